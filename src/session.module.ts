import {
  Inject,
  Module,
  Optional,
  type DynamicModule,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { APP_INTERCEPTOR, HttpAdapterHost } from '@nestjs/core';
import { SessionBackend } from './backends/session-backend.js';
import { SESSION_BACKEND, SESSION_OPTIONS } from './session.constants.js';
import { registerFastifyHooks } from './session.fastify.js';
import { SessionInterceptor } from './session.interceptor.js';
import { messages } from './session.messages.js';
import {
  SESSION_ASYNC_OPTIONS_TYPE,
  SESSION_MODULE_OPTIONS,
  SESSION_OPTIONS_TYPE,
  SessionConfigurableModule,
} from './session.module-definition.js';
import { resolveSessionOptions, type ResolvedSessionOptions } from './session.options.js';
import { registerLoader } from './session.request-state.js';
import { SessionService } from './session.service.js';

/**
 * Sessions for a Nest application. `forRoot()` takes the options directly,
 * `forRootAsync()` builds them from other providers (`useFactory` + `inject`,
 * `useClass`, `useExisting`, `imports`). Either way the module provides
 * `SESSION_BACKEND` (also injectable as the `SessionBackend` class),
 * `SESSION_OPTIONS`, `SessionService`, and `SessionInterceptor`, which
 * `@Session()` binds to the handlers that take it (or which runs on every
 * route with `loadOnEveryRoute: true`). `isGlobal: true` makes its exports
 * visible everywhere.
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
    {
      // Global only with `loadOnEveryRoute`; otherwise `@Session()` binds the
      // interceptor to its own handler, and Nest skips the null.
      provide: APP_INTERCEPTOR,
      useFactory: (options: ResolvedSessionOptions, interceptor: SessionInterceptor) =>
        options.loadOnEveryRoute ? interceptor : null,
      inject: [SESSION_OPTIONS, SessionInterceptor],
    },
  ],
  exports: [SESSION_OPTIONS, SESSION_BACKEND, SessionService, SessionInterceptor],
})
export class SessionModule
  extends SessionConfigurableModule
  implements OnModuleInit, OnApplicationShutdown
{
  constructor(
    @Inject(SESSION_OPTIONS) private readonly options: ResolvedSessionOptions,
    private readonly sessions: SessionService,
    @Optional() private readonly adapterHost?: HttpAdapterHost,
  ) {
    super();
  }

  static override forRoot(options: typeof SESSION_OPTIONS_TYPE): DynamicModule {
    return withBackendClassToken(super.forRoot(options));
  }

  /**
   * Like `forRoot`. The `SessionBackend` class is a token for the backend
   * only when the options come from `useFactory` without injecting that same
   * class: an app whose own provider is `SessionBackend` (injected into the
   * factory to build the options) would otherwise get this module's alias,
   * which depends on the options it is building.
   */
  static override forRootAsync(options: typeof SESSION_ASYNC_OPTIONS_TYPE): DynamicModule {
    const dynamic = super.forRootAsync(options);
    const injects = (options.inject ?? []) as unknown[];
    return options.useFactory && !injects.includes(SessionBackend)
      ? withBackendClassToken(dynamic)
      : dynamic;
  }

  /** On Fastify, links requests to their replies and saves before every reply is sent. */
  onModuleInit(): void {
    const adapter = this.adapterHost?.httpAdapter;
    const instance: unknown = adapter?.getInstance();
    if (typeof instance === 'function' || (typeof instance === 'object' && instance !== null)) {
      registerLoader(instance, (request) => this.sessions.load(request));
    }
    if (adapter?.getType() === 'fastify') {
      registerFastifyHooks(
        adapter.getInstance(),
        (request) => this.sessions.commit(request),
        messages.saveFailed(),
        (request) => this.sessions.linked(request),
      );
    }
  }

  /** Releases what the backend opened itself (timers, connections). */
  async onApplicationShutdown(): Promise<void> {
    await this.options.backend.close?.();
  }
}

/** Makes the abstract `SessionBackend` class a token too: `constructor(private backend: SessionBackend)`. */
function withBackendClassToken(dynamic: DynamicModule): DynamicModule {
  return {
    ...dynamic,
    providers: [
      ...(dynamic.providers ?? []),
      { provide: SessionBackend, useExisting: SESSION_BACKEND },
    ],
    exports: [...(dynamic.exports ?? []), SessionBackend],
  };
}
