// A what-if for Nest 11 on Node 20, loaded only when asked for (`npm run
// bench -- --preload …`, `node bench/instructions.js … --preload …`):
// replaces Node's static `AsyncResource.bind()`, which Nest 11's interceptor
// chain calls twice per request, with the same binding (the same `this`, the
// same resource type) minus the properties Node defines on the bound function:
// `length`, and the deprecated `asyncResource`, whose `util.deprecate()`
// wrapper gives a fresh function a fresh prototype on every call. It measures
// how much of an interceptor's cost on Nest 11 is those definitions rather
// than any interceptor's own code. Not for applications: it changes a Node.js built-in.
import { AsyncResource } from 'node:async_hooks';

AsyncResource.bind = function bind(fn, type, thisArg) {
  const resource = new AsyncResource(type || fn.name || 'bound-anonymous-fn');
  if (thisArg !== undefined) {
    return (...args) => resource.runInAsyncScope(fn, thisArg, ...args);
  }
  return function bound(...args) {
    return resource.runInAsyncScope(fn, this, ...args);
  };
};
