/**
 * Hub event ids: `<epoch>-<seq>`.
 *
 * - `seq` is a decimal counter shared by every channel of a hub, so "after id X" is one number
 *   comparison across channels and needs no scan.
 * - `epoch` names the history the counter belongs to (base36, derived from the time that history
 *   began). A store that loses its history starts a new epoch, so an id from the old one is
 *   recognised as such instead of being mistaken for a position in the new one.
 */

export interface EventPosition {
  epoch: string;
  seq: number;
}

const ID_SHAPE = /^([0-9a-z]{1,16})-(0|[1-9][0-9]{0,15})$/;

export function formatEventId(epoch: string, seq: number): string {
  return `${epoch}-${seq}`;
}

/** Parses a hub id; anything else (including a client-made id) gives undefined. */
export function parseEventId(id: string): EventPosition | undefined {
  const match = ID_SHAPE.exec(id);
  if (!match) return undefined;
  const seq = Number(match[2]);
  if (!Number.isSafeInteger(seq)) return undefined;
  return { epoch: match[1]!, seq };
}

/** A fresh epoch: the current time in base36 plus randomness, so two epochs never collide. */
export function newEpoch(now = Date.now()): string {
  const random = Math.floor(Math.random() * 36 ** 4)
    .toString(36)
    .padStart(4, '0');
  return `${now.toString(36)}${random}`;
}
