/**
 * Run state in Redis, so a run started on one process can be followed and resumed on another,
 * stopped from a third, and reported `interrupted` when its process dies (its lease lapses).
 */
import { runChannel } from '@ssekit/core';
import {
  ChannelClosedError,
  type RunClaim,
  type RunRecord,
  type RunStatus,
  type RunStore,
} from '@ssekit/core/store';
import type { Redis } from 'ioredis';
import type { LuaScript } from '../scripts/lua-script.js';
import { RESERVED_BLOCK, RunWriter, type TakenSeq } from './run-writer.js';
import { CLAIM, END, GET, INTERRUPT, RENEW, RENEW_ALL, RESERVE, STOP, TOUCH } from './scripts.js';

/** Runs renewed per script call (renewAll). */
const RENEW_CHUNK = 100;

/** What the run store needs of the Redis store. */
export interface RunHost {
  readonly connection: Redis;
  run<T>(what: string, command: () => Promise<T>): Promise<T>;
  /**
   * Runs a script that vouches for the epoch: its first KEYS and ARGV are the epoch's, then (ARGV
   * 4) the highest seq seen in the known epoch, then `args`.
   */
  vouched(
    what: string,
    script: LuaScript,
    keys: string[],
    args: Array<string | number>,
  ): Promise<unknown>;
  /** The epoch's keys, then the channel limits, as the append script takes them. */
  readonly history: readonly string[];
  /** The set of closed channels. */
  readonly closedKey: string;
  readonly limits: readonly [maxEvents: number, maxBytes: number, maxAgeMs: number];
  /** The epoch this process knows. */
  readonly epoch: string | undefined;
  /** Takes in the epoch of a reply (epochs.ts, `observe`) and a seq handed out in it. */
  observed(epoch: string, head: number, base: number, seq: number): void;
  runKey(key: string): string;
  channelKeys(channel: string): { stream: string; meta: string };
  /** This process no longer produces the run on `channel`: its events must be read again. */
  released(channel: string): void;
}

export class RedisRunStore implements RunStore {
  /** Runs this process claimed and has not ended (or lost), by key: their channels. */
  private readonly mine = new Map<string, string>();
  /** The channels of those runs: while its lease holds, nobody else writes to them. */
  private readonly producing = new Set<string>();
  /** Their reserved seqs, by channel, while there are some (run-writer.ts). */
  private readonly writers = new Map<string, RunWriter>();

  constructor(private readonly host: RunHost) {}

  async claim(claim: RunClaim): Promise<RunRecord | null> {
    const { stream, meta } = this.host.channelKeys(claim.channel);
    const reply = (await this.host.vouched(
      'claim a run',
      CLAIM,
      [...this.host.history, this.host.runKey(claim.key), stream, meta, this.host.closedKey],
      [
        claim.owner,
        claim.leaseMs,
        claim.retentionMs,
        RESERVED_BLOCK,
        claim.startBody,
        claim.startEvent,
        ...this.host.limits,
        claim.channel,
      ],
    )) as [0] | [2] | [1, string, number, number, number, number, string[]];
    if (reply[0] === 2) throw new ChannelClosedError(claim.channel);
    if (reply[0] !== 1) return null;
    const [, epoch, base, first, last, now, fields] = reply;
    this.host.observed(epoch, first - 1, base, last);
    this.mine.set(claim.key, claim.channel);
    this.producing.add(claim.channel);
    // The start marker took the first seq; the run's events take the others.
    this.writers.set(claim.channel, new RunWriter(claim.channel, epoch, first, first + 1, last));
    return toRecord(fields, now);
  }

  /**
   * A seq for the next event this process makes on `channel`, if it produces that run and holds
   * reserved seqs of the current epoch; undefined: Redis gives the event its seq when it stores it.
   * Once a run's events went that way they always do (a later block would be below their seqs).
   */
  reserve(channel: string): TakenSeq | undefined {
    const writer = this.writers.get(channel);
    if (!writer) return undefined;
    const taken = writer.epoch === this.host.epoch ? writer.take() : undefined;
    if (!taken) {
      this.writers.delete(channel);
      return undefined;
    }
    if (writer.low) this.reserveMore(writer);
    return taken;
  }

  /** The last seq this process gave `channel`, while it gives that channel's seqs itself. */
  lastReserved(channel: string): number | undefined {
    const writer = this.writers.get(channel);
    return writer && writer.epoch === this.host.epoch ? writer.last : undefined;
  }

  /** An event under a reserved seq was not stored: from here on, Redis gives the seqs. */
  unreserve(channel: string): void {
    this.writers.delete(channel);
  }

  private reserveMore(writer: RunWriter): void {
    writer.reserving = true;
    this.host.vouched('reserve run ids', RESERVE, [...this.host.history], [RESERVED_BLOCK]).then(
      (reply) => {
        writer.reserving = false;
        const [epoch, base, first, last] = reply as [string, number, number, number];
        this.host.observed(epoch, first - 1, base, 0);
        if (this.writers.get(writer.channel) === writer && epoch === writer.epoch)
          writer.add(first, last);
      },
      () => {
        writer.reserving = false;
      },
    );
  }

  async renew(key: string, owner: string, leaseMs: number): Promise<RunRecord | null> {
    const fields = (await this.call('renew a run', RENEW, this.runKeys(key), [owner, leaseMs])) as
      | string[]
      | null;
    return this.renewedOne(key, fields);
  }

  /** One script call per RENEW_CHUNK runs: bounds how long one call keeps Redis busy. */
  async renewAll(
    owner: string,
    runs: ReadonlyArray<{ key: string; leaseMs: number }>,
  ): Promise<Array<RunRecord | null>> {
    const chunks: Array<Promise<unknown>> = [];
    for (let i = 0; i < runs.length; i += RENEW_CHUNK) {
      const chunk = runs.slice(i, i + RENEW_CHUNK);
      chunks.push(
        this.call(
          'renew runs',
          RENEW_ALL,
          chunk.flatMap((run) => this.runKeys(run.key)),
          [owner, ...chunk.map((run) => run.leaseMs)],
        ),
      );
    }
    const replies = (await Promise.all(chunks)).flat() as Array<string[] | null>;
    return runs.map((run, i) => this.renewedOne(run.key, replies[i] ?? null));
  }

  private renewedOne(key: string, fields: string[] | null): RunRecord | null {
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
    this.writers.delete(channel);
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

  /** The run hash, its channel's stream and meta, in the KEYS order of RENEW and END. */
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

/** The record of a `{ now, HGETALL }` reply (GET); null for a missing run. */
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
