/**
 * The runs bench's processes: a private redis-server (no persistence, temp dir, free loopback
 * port, its CPU read from /proc), and the contender servers (lib/contender-process.mjs).
 */
import { existsSync, readFileSync } from 'node:fs';
import { REDIS_SERVER, startRedis as startRedisServer } from './redis-server.mjs';

export { REDIS_SERVER };

const TICKS_PER_SECOND = 100;

for (const signal of ['SIGINT', 'SIGTERM'])
  process.once(signal, () => process.exit(128 + (signal === 'SIGINT' ? 2 : 15)));

/** CPU time (user + system) of a process, in µs, from /proc (Linux). */
export function processCpuMicros(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat(5), counted from the state field (3).
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / TICKS_PER_SECOND;
}

/** A private redis-server whose CPU the bench reads (see lib/redis-server.mjs). */
export async function startRedis() {
  if (!existsSync(REDIS_SERVER)) throw new Error(`${REDIS_SERVER} is not installed`);
  const redis = await startRedisServer('bench-runs');
  return { ...redis, cpuMicros: () => processCpuMicros(redis.pid) };
}
