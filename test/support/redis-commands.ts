// Which commands a Redis server ran: INFO commandstats before and after.
import type { Redis } from 'ioredis';

/** `cmdstat_<name>` call counts from INFO commandstats. */
async function commandStats(admin: Redis): Promise<Record<string, number>> {
  const stats: Record<string, number> = {};
  for (const line of (await admin.info('commandstats')).split('\r\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (match) stats[match[1]] = Number(match[2]);
  }
  return stats;
}

/**
 * The commands Redis ran while `action` ran, by name (INFO, which this helper
 * sends itself, left out). Only meaningful on a server nothing else uses.
 */
export async function commandsDuring(
  admin: Redis,
  action: () => Promise<unknown>,
): Promise<Record<string, number>> {
  const before = await commandStats(admin);
  await action();
  const after = await commandStats(admin);
  const delta: Record<string, number> = {};
  for (const [name, calls] of Object.entries(after)) {
    const ran = calls - (before[name] ?? 0);
    if (name !== 'info' && ran > 0) delta[name] = ran;
  }
  return delta;
}
