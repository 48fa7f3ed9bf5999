import type { CallHandler, ExecutionContext, INestApplication } from '@nestjs/common';
import { lastValueFrom, of } from 'rxjs';
import { MemoryBackend, SessionInterceptor, SessionModule } from '../../src/index.js';
import { createApp } from '../support/fixtures/app.js';
import { instrument, type Instrumented } from '../support/instrument.js';
import { SECRET } from '../support/fixtures/http.js';

describe('SessionInterceptor outside HTTP', () => {
  let app: INestApplication;
  let backend: Instrumented<MemoryBackend>;

  beforeEach(async () => {
    backend = instrument(new MemoryBackend());
    app = await createApp({ imports: [SessionModule.forRoot({ secretKey: SECRET, backend })] });
  });

  afterEach(async () => {
    await app.close();
  });

  it.each(['rpc', 'ws'])('passes a %s context through untouched', async (type) => {
    const interceptor = app.get(SessionInterceptor);
    const touched: string[] = [];
    const data = { pattern: 'ping' };
    const context = {
      getType: () => type,
      switchToHttp: () => {
        touched.push('switchToHttp');
        throw new Error('not an HTTP context');
      },
      switchToRpc: () => ({ getData: () => data, getContext: () => ({}) }),
      switchToWs: () => ({ getData: () => data, getClient: () => ({}), getPattern: () => 'ping' }),
      getArgs: () => [data],
      getArgByIndex: (index: number) => [data][index],
      getClass: () => Object,
      getHandler: () => () => undefined,
    } as unknown as ExecutionContext;
    const next: CallHandler = { handle: () => of('pong') };

    await expect(lastValueFrom(interceptor.intercept(context, next))).resolves.toBe('pong');
    expect(touched).toEqual([]);
    expect(data).toEqual({ pattern: 'ping' });
    expect(backend.total).toBe(0);
  });
});
