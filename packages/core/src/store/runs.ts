/**
 * The run-state contract: what a store keeps about resumable runs (AI token streams), so that any
 * process can follow, stop or expire a run that another process produces.
 */

/** `running` until the source ends; then how it ended. `expired`: its history is gone. */
export type RunStatus = 'running' | 'done' | 'error' | 'stopped' | 'interrupted' | 'expired';

export interface RunRecord {
  status: RunStatus;
  /** Who produces it (a process-unique id). */
  owner: string;
  /** Id of the run's start marker: a follower with no Last-Event-ID replays from here. */
  startId: string;
  /** Id of the terminal event, once it ended. */
  endId: string | null;
  /** Lease end (ms since epoch, the store's clock): a running run past it lost its producer. */
  leaseUntil: number;
  /** Someone asked for the run to stop (any process). */
  stopRequested: boolean;
  /** Last time a follower was attached anywhere (ms since epoch). */
  seenAt: number;
  /** The run's lease and retention, so every process checks and keeps it alike. */
  leaseMs: number;
  retentionMs: number;
}

export interface RunClaim {
  key: string;
  channel: string;
  owner: string;
  leaseMs: number;
  retentionMs: number;
  /** The start marker's encoded body and event type, appended atomically with the claim. */
  startBody: string;
  startEvent: string;
}

export interface RunStore {
  /**
   * Claims `key` and appends the start marker in one step. Null when a run with this key is
   * running (with a live lease) or still retained.
   */
  claim(claim: RunClaim): Promise<RunRecord | null>;
  /** Renews the owner's lease; returns the record (e.g. `stopRequested`), or null if not its owner any more. */
  renew(key: string, owner: string, leaseMs: number): Promise<RunRecord | null>;
  /**
   * Optional: renews several of the owner's leases at once (as `renew` does each), in order. A
   * process renews every run it produces each tick; a store with round trips does it in one.
   */
  renewAll?(
    owner: string,
    runs: ReadonlyArray<{ key: string; leaseMs: number }>,
  ): Promise<Array<RunRecord | null>>;
  /** Marks that a follower is attached (on any process), for abandonment. */
  touch(key: string): Promise<void>;
  /** Asks the owner, wherever it runs, to stop. False when no such run is running. */
  requestStop(key: string): Promise<boolean>;
  /**
   * Records how the run ended (its terminal event's id) and keeps its history for `retentionMs`,
   * then as `expired` for as long again, then forgets it. `owner` ends only a run still running
   * as its own (not one another process ended `interrupted`); `null` (the process that marked it
   * interrupted) only an interrupted run nobody ended yet. Otherwise nothing changes.
   */
  end(
    key: string,
    owner: string | null,
    status: RunStatus,
    endId: string,
    retentionMs: number,
  ): Promise<void>;
  /** A running run whose lease passed becomes `interrupted`; true for the one caller that did it. */
  interrupt(key: string): Promise<boolean>;
  get(key: string): Promise<RunRecord | null>;
  /** Runs this store knows (for stats). */
  count(): number;
  /**
   * Optional: this process no longer produces `key`, however it stopped (ended, lost its lease,
   * failed to record its end, the hub closed). A store that keeps per-producer state drops it.
   */
  release?(key: string): void;
}
