// The Nest internals the interceptor reads, in one place: the metadata keys
// that `@Res()`, `@Response()` and `@Next()` write on a controller, and their
// parameter types, and the one `@Sse()` writes on its handler. They mirror
// `ROUTE_ARGS_METADATA`, `RESPONSE_PASSTHROUGH_METADATA`, `RouteParamtypes`
// and `SSE_METADATA` in @nestjs/common,
// unchanged from Nest 9 through 12. They are copied rather than imported
// because Nest exports them only from deep paths, which resolve differently
// in Nest 11's CommonJS and Nest 12's ES modules; session.route-args.spec.ts
// proves them against the real decorators.

/** Where parameter decorators record a handler's arguments, keyed `<type>:<index>`. */
export const ROUTE_ARGS_METADATA = '__routeArguments__';
/** Set on a handler by `@Res({ passthrough: true })`. */
export const RESPONSE_PASSTHROUGH_METADATA = '__responsePassthrough__';
/** `RouteParamtypes.RESPONSE`: `@Res()` / `@Response()`. */
export const RESPONSE_PARAMTYPE = 1;
/** `RouteParamtypes.NEXT`: `@Next()`. */
export const NEXT_PARAMTYPE = 2;
/** Set on a handler function by `@Sse()`. */
export const SSE_METADATA = '__sse__';

/**
 * True for an `@Sse()` handler: Nest sends the response's headers when the
 * event stream starts, before the handler's first event.
 */
export function handlerStreamsEvents(handler: object): boolean {
  return Reflect.getMetadata(SSE_METADATA, handler) === true;
}

/**
 * True when the handler sends the response itself, so Nest will not send what
 * it returns: it takes `@Res()` or `@Next()`, and `@Res({ passthrough: true })`
 * does not hand the response back to Nest. The same test Nest's router makes
 * (`RouterExecutionContext.isResponseHandled`).
 *
 * @param controller the controller class (`ExecutionContext.getClass()`)
 * @param methodName the handler's name (`ExecutionContext.getHandler().name`)
 */
export function handlerSendsResponse(controller: object, methodName: string | symbol): boolean {
  const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, controller, methodName) ?? {}) as Record<
    string,
    unknown
  >;
  const takesResponse = Object.keys(args).some((key) => {
    const type = Number(key.split(':')[0]);
    return type === RESPONSE_PARAMTYPE || type === NEXT_PARAMTYPE;
  });
  return (
    takesResponse && !Reflect.getMetadata(RESPONSE_PASSTHROUGH_METADATA, controller, methodName)
  );
}
