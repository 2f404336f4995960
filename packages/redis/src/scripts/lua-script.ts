import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/** A script run by EVALSHA, falling back to EVAL once after Redis forgot it (e.g. a restart). */
export class LuaScript {
  readonly sha: string;
  constructor(readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }
  async run(
    conn: Redis,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    try {
      return await conn.call('EVALSHA', this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return conn.call('EVAL', this.lua, keys.length, ...keys, ...args);
    }
  }
}
