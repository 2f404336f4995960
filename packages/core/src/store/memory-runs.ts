/** Run state in this process's memory, beside the memory store's channels. */
import type { RunClaim, RunRecord, RunStatus, RunStore } from './runs.js';

interface Entry {
  record: RunRecord;
  channel: string;
  timer: NodeJS.Timeout | undefined;
}

/** What the run store needs of its event store: the atomic start marker, and forgetting history. */
export interface RunHistory {
  appendNow(channel: string, body: string, event: string | undefined): string;
  dropChannel(channel: string): void;
}

export class MemoryRunStore implements RunStore {
  private readonly runs = new Map<string, Entry>();

  constructor(private readonly history: RunHistory) {}

  async claim(claim: RunClaim): Promise<RunRecord | null> {
    const now = Date.now();
    const existing = this.runs.get(claim.key);
    if (existing && !reclaimable(existing.record, now)) return null;
    if (existing?.timer) clearTimeout(existing.timer);
    const startId = this.history.appendNow(claim.channel, claim.startBody, claim.startEvent);
    const record: RunRecord = {
      status: 'running',
      owner: claim.owner,
      startId,
      endId: null,
      leaseUntil: now + claim.leaseMs,
      stopRequested: false,
      seenAt: now,
      leaseMs: claim.leaseMs,
      retentionMs: claim.retentionMs,
    };
    this.runs.set(claim.key, { record, channel: claim.channel, timer: undefined });
    return { ...record };
  }

  async renew(key: string, owner: string, leaseMs: number): Promise<RunRecord | null> {
    const entry = this.runs.get(key);
    if (!entry || entry.record.owner !== owner || entry.record.status !== 'running') return null;
    entry.record.leaseUntil = Date.now() + leaseMs;
    return { ...entry.record };
  }

  async touch(key: string): Promise<void> {
    const entry = this.runs.get(key);
    if (entry) entry.record.seenAt = Date.now();
  }

  async requestStop(key: string): Promise<boolean> {
    const entry = this.runs.get(key);
    if (entry?.record.status !== 'running') return false;
    entry.record.stopRequested = true;
    return true;
  }

  async end(
    key: string,
    owner: string | null,
    status: RunStatus,
    endId: string,
    retentionMs: number,
  ): Promise<void> {
    const entry = this.runs.get(key);
    if (!entry) return;
    // An owner ends only a run still running (one ended `interrupted` elsewhere keeps that end);
    // the interrupter (no owner) only a run it marked interrupted and nobody ended yet.
    const { record } = entry;
    if (
      owner !== null
        ? record.status !== 'running' || record.owner !== owner
        : record.status !== 'interrupted' || record.endId !== null
    )
      return;
    entry.record.status = status;
    entry.record.endId = endId;
    // Retained whole, then remembered as expired (204) as long again, then forgotten (404).
    entry.timer = setTimeout(() => {
      if (this.runs.get(key) !== entry) return;
      entry.record.status = 'expired';
      this.history.dropChannel(entry.channel);
      entry.timer = setTimeout(() => {
        if (this.runs.get(key) === entry) this.runs.delete(key);
      }, retentionMs);
      entry.timer.unref();
    }, retentionMs);
    entry.timer.unref();
  }

  async interrupt(key: string): Promise<boolean> {
    const entry = this.runs.get(key);
    if (entry?.record.status !== 'running' || entry.record.leaseUntil > Date.now()) return false;
    entry.record.status = 'interrupted';
    return true;
  }

  async get(key: string): Promise<RunRecord | null> {
    const entry = this.runs.get(key);
    return entry ? { ...entry.record } : null;
  }

  count(): number {
    return this.runs.size;
  }

  /** Forgets everything (the store closes). */
  clear(): void {
    for (const entry of this.runs.values()) if (entry.timer) clearTimeout(entry.timer);
    this.runs.clear();
  }
}

/** A key can be started again once its run was interrupted, expired, or lost its producer. */
function reclaimable(record: RunRecord, now: number): boolean {
  if (record.status === 'interrupted' || record.status === 'expired') return true;
  return record.status === 'running' && record.leaseUntil <= now;
}
