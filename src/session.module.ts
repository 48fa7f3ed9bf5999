import { Inject, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { SESSION_BACKEND, SESSION_OPTIONS } from './session.constants.js';
import { SessionInterceptor } from './session.interceptor.js';
import {
  SESSION_ASYNC_OPTIONS_TYPE,
  SESSION_MODULE_OPTIONS,
  SESSION_OPTIONS_TYPE,
  SessionConfigurableModule,
} from './session.module-definition.js';
import { resolveSessionOptions, type ResolvedSessionOptions } from './session.options.js';
import { SessionService } from './session.service.js';

/**
 * Sessions for a Nest application. `forRoot()` takes the options directly,
 * `forRootAsync()` builds them from other providers (`useFactory` + `inject`,
 * `useClass`, `useExisting`, `imports`). Either way the module provides
 * `SESSION_BACKEND`, `SESSION_OPTIONS`, `SessionService`, and registers
 * `SessionInterceptor` globally. `isGlobal: true` makes its exports visible
 * everywhere.
 *
 * @example
 * SessionModule.forRootAsync({
 *   imports: [ConfigModule],
 *   inject: [ConfigService],
 *   useFactory: (config: ConfigService) => ({ secretKey: config.getOrThrow('SESSION_SECRET') }),
 * })
 */
@Module({
  providers: [
    {
      provide: SESSION_OPTIONS,
      useFactory: resolveSessionOptions,
      inject: [SESSION_MODULE_OPTIONS],
    },
    {
      provide: SESSION_BACKEND,
      useFactory: (options: ResolvedSessionOptions) => options.backend,
      inject: [SESSION_OPTIONS],
    },
    SessionService,
    SessionInterceptor,
    { provide: APP_INTERCEPTOR, useExisting: SessionInterceptor },
  ],
  exports: [SESSION_OPTIONS, SESSION_BACKEND, SessionService, SessionInterceptor],
})
export class SessionModule extends SessionConfigurableModule implements OnApplicationShutdown {
  constructor(@Inject(SESSION_OPTIONS) private readonly options: ResolvedSessionOptions) {
    super();
  }

  static override forRoot(options: typeof SESSION_OPTIONS_TYPE): DynamicModule {
    return super.forRoot(options);
  }

  static override forRootAsync(options: typeof SESSION_ASYNC_OPTIONS_TYPE): DynamicModule {
    return super.forRootAsync(options);
  }

  /** Releases what the backend opened itself (timers, connections). */
  async onApplicationShutdown(): Promise<void> {
    await this.options.backend.close?.();
  }
}
