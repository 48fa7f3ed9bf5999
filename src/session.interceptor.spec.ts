import { jest } from '@jest/globals';
import type { CallHandler, ExecutionContext } from '@nestjs/common';
import { lastValueFrom, of, throwError } from 'rxjs';
import { SessionInterceptor } from './session.interceptor.js';
import type { SessionService } from './session.service.js';

/** An HTTP context of a handler that does not take `@Res()`. */
function httpContext(): ExecutionContext {
  class RoutesController {
    handler(): void {}
  }
  return {
    getType: () => 'http',
    switchToHttp: () => ({ getRequest: () => ({}) }),
    getClass: () => RoutesController,
    getHandler: () => RoutesController.prototype.handler,
  } as unknown as ExecutionContext;
}

/** A service whose session loads and whose save fails. */
function failingSaves() {
  const commit = jest.fn(() => Promise.reject(new Error('store down')));
  const service = {
    loadNow: () => false,
    manage: () => undefined,
    load: () => Promise.resolve({}),
    commit,
  } as unknown as SessionService;
  return { service, commit };
}

describe('SessionInterceptor', () => {
  it.each([
    ['a value', () => of({ ok: true })],
    ['no value', () => of()],
  ])('saves once when the save after a handler emitting %s fails', async (_case, handle) => {
    const { service, commit } = failingSaves();
    const next: CallHandler = { handle };
    const result = lastValueFrom(new SessionInterceptor(service).intercept(httpContext(), next), {
      defaultValue: undefined,
    });
    await expect(result).rejects.toThrow('store down');
    expect(commit).toHaveBeenCalledTimes(1);
  });

  it('passes the handler’s error on after one save, or the save’s failure', async () => {
    const { service, commit } = failingSaves();
    const next: CallHandler = { handle: () => throwError(() => new Error('handler failed')) };
    await expect(
      lastValueFrom(new SessionInterceptor(service).intercept(httpContext(), next)),
    ).rejects.toThrow('store down');
    expect(commit).toHaveBeenCalledTimes(1);
  });
});
