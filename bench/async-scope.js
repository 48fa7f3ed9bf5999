// `node bench/async-scope.js`: prints, as JSON, the CPU µs per call of the two
// ways Nest binds an interceptor's next step to its async context: Nest 11
// calls Node's `AsyncResource.bind()` (twice per request for one
// interceptor); Nest 12 makes a `new AsyncResource()` and a closure. The
// benchmark runs it on the server's core and reports it beside the results:
// it is the part of Nest 11's interceptor cost that no interceptor can avoid.
import { AsyncResource } from 'node:async_hooks';

const CALLS = 100_000;

function viaBind() {
  return AsyncResource.bind(() => 1);
}

function viaResource() {
  const resource = new AsyncResource('bound-anonymous-fn');
  const fn = () => 1;
  return () => resource.runInAsyncScope(fn);
}

function microsPerCall(make) {
  for (let i = 0; i < CALLS / 10; i += 1) make()();
  const start = process.cpuUsage();
  for (let i = 0; i < CALLS; i += 1) make()();
  const { user, system } = process.cpuUsage(start);
  return (user + system) / CALLS;
}

console.log(JSON.stringify({ bind: microsPerCall(viaBind), resource: microsPerCall(viaResource) }));
