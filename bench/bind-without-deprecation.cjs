// A what-if for Nest 11 on Node 20, never loaded by the benchmark itself:
// `node --require bench/bind-without-deprecation.cjs` (or instructions.js
// --preload) replaces Node's static `AsyncResource.bind()`, which Nest 11's
// interceptor chain calls twice per request, with the same binding minus the
// deprecated `asyncResource` property whose `util.deprecate()` wrapper gives a
// fresh function a fresh prototype on every call. It measures how much of an
// interceptor's cost on Nest 11 is that wrapper rather than any interceptor's
// own code. Not for applications: it changes a Node.js built-in.
'use strict';
const { AsyncResource } = require('node:async_hooks');

AsyncResource.bind = function bind(fn, type, thisArg) {
  const resource = new AsyncResource(type || fn.name || 'bound-anonymous-fn');
  if (thisArg !== undefined) {
    return (...args) => resource.runInAsyncScope(fn, thisArg, ...args);
  }
  return function bound(...args) {
    return resource.runInAsyncScope(fn, this, ...args);
  };
};
