export default async function globalTeardown() {
  const server = globalThis.__THROWAWAY_REDIS__;
  if (server) await server.stop();
}
