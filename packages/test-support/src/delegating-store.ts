/** A store that passes everything to a MemoryStore except what a test overrides (a slow append, a counted read). */
import type { EventStore, MemoryStore } from '@ssekit/core/store';

export function delegatingStore(
  memory: MemoryStore,
  overrides: Partial<EventStore> = {},
): EventStore {
  return {
    append: (channel, body, event) => memory.append(channel, body, event),
    readAfter: (channels, lastEventId) => memory.readAfter(channels, lastEventId),
    subscribe: (channel, listener) => memory.subscribe(channel, listener),
    closeChannel: (channel, final) => memory.closeChannel(channel, final),
    reopenChannel: (channel) => memory.reopenChannel(channel),
    isClosed: (channel) => memory.isClosed(channel),
    runs: memory.runs,
    stats: () => memory.stats(),
    close: () => memory.close(),
    ...overrides,
  };
}
