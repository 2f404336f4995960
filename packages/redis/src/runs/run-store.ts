/**
 * Run state in Redis, so a run started on one process can be followed and resumed on another,
 * stopped from a third, and reported `interrupted` when its process dies (its lease lapses).
 */
import { runChannel } from '@ssekit/core';
import type { RunClaim, RunRecord, RunStatus, RunStore } from '@ssekit/core/store';
import type { Redis } from 'ioredis';
import type { LuaScript } from '../scripts/lua-script.js';
import { CLAIM, END, GET, INTERRUPT, RENEW, START, STOP, TOUCH } from './scripts.js';

/** What the run store needs of the Redis store. */
export interface RunHost {
  readonly connection: Redis;
  run<T>(what: string, command: () => Promise<T>): Promise<T>;
  runKey(key: string): string;
  channelKeys(channel: string): { stream: string; meta: string };
  append(channel: string, body: string, event: string | undefined): Promise<string>;
  /** This process no longer produces the run on `channel`: its events must be read again. */
  released(channel: string): void;
}

export class RedisRunStore implements RunStore {
  /** Runs this process claimed and has not ended (or lost), by key: their channels. */
  private readonly mine = new Map<string, string>();
  /** The channels of those runs: while its lease holds, nobody else writes to them. */
  private readonly producing = new Set<string>();

  constructor(private readonly host: RunHost) {}

  async claim(claim: RunClaim): Promise<RunRecord | null> {
    const runKey = this.host.runKey(claim.key);
    const ok = await this.call(
      'claim a run',
      CLAIM,
      [runKey],
      [claim.owner, claim.leaseMs, claim.retentionMs],
    );
    if (ok !== 1) return null;
    // Invisible to followers ('claiming') until the start marker's id is recorded: a follower
    // never gets a position that doesn't exist yet.
    const startId = await this.host.append(claim.channel, claim.startBody, claim.startEvent);
    const started = await this.call('start a run', START, this.runKeys(claim.key), [
      claim.owner,
      startId,
    ]);
    // Lost meanwhile (the claim's lease passed and another process took the key).
    if (!Array.isArray(started)) return null;
    this.mine.set(claim.key, claim.channel);
    this.producing.add(claim.channel);
    return recordOf(started);
  }

  async renew(key: string, owner: string, leaseMs: number): Promise<RunRecord | null> {
    const fields = (await this.call('renew a run', RENEW, this.runKeys(key), [owner, leaseMs])) as
      | string[]
      | null;
    if (!fields) {
      // Lost: another process may have written to its channel (an `interrupted` end).
      this.forget(key);
      return null;
    }
    return toRecord(fields, Number.NEGATIVE_INFINITY);
  }

  /** Whether this process alone writes `channel`: a run it produces, with its lease held. */
  writesAlone(channel: string): boolean {
    return this.producing.has(channel);
  }

  release(key: string): void {
    this.forget(key);
  }

  private forget(key: string): void {
    const channel = this.mine.get(key);
    if (channel === undefined) return;
    this.mine.delete(key);
    this.producing.delete(channel);
    this.host.released(channel);
  }

  async touch(key: string): Promise<void> {
    await this.call('touch a run', TOUCH, [this.host.runKey(key)], []);
  }

  async requestStop(key: string): Promise<boolean> {
    return (await this.call('stop a run', STOP, [this.host.runKey(key)], [])) === 1;
  }

  async end(
    key: string,
    owner: string | null,
    status: RunStatus,
    endId: string,
    retentionMs: number,
  ): Promise<void> {
    await this.call('end a run', END, this.runKeys(key), [owner ?? '', status, endId, retentionMs]);
    this.forget(key);
  }

  async interrupt(key: string): Promise<boolean> {
    return (await this.call('interrupt a run', INTERRUPT, [this.host.runKey(key)], [])) === 1;
  }

  async get(key: string): Promise<RunRecord | null> {
    return recordOf(await this.call('read a run', GET, [this.host.runKey(key)], []));
  }

  count(): number {
    return this.mine.size;
  }

  /** The run hash, its channel's stream and meta, in the KEYS order of START, RENEW and END. */
  private runKeys(key: string): string[] {
    const { stream, meta } = this.host.channelKeys(runChannel(key));
    return [this.host.runKey(key), stream, meta];
  }

  private call(
    what: string,
    script: LuaScript,
    keys: string[],
    args: Array<string | number>,
  ): Promise<unknown> {
    return this.host.run(what, () => script.run(this.host.connection, keys, args));
  }
}

/** The record of a `{ now, HGETALL }` reply (GET, START); null for a missing run. */
function recordOf(reply: unknown): RunRecord | null {
  const [now, fields] = reply as [number, string[]];
  return fields.length === 0 ? null : toRecord(fields, now);
}

/** A record from HGETALL fields; `null`-like while still 'claiming'. Past retention: 'expired'. */
function toRecord(fields: string[], now: number): RunRecord | null {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i]!, fields[i + 1]!);
  let status = map.get('s') as RunStatus | 'claiming' | undefined;
  if (status === undefined || status === 'claiming') return null;
  const retentionMs = Number(map.get('rm') ?? 0);
  const endedAt = map.get('ea');
  if (endedAt !== undefined && now > Number(endedAt) + retentionMs) status = 'expired';
  return {
    status,
    owner: map.get('o') ?? '',
    startId: map.get('st') ?? '',
    endId: map.get('en') ?? null,
    leaseUntil: Number(map.get('lu') ?? 0),
    stopRequested: map.get('sr') === '1',
    seenAt: Number(map.get('sa') ?? 0),
    leaseMs: Number(map.get('lm') ?? 0),
    retentionMs,
  };
}
