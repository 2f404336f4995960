/**
 * The hub's behaviour with real servers and the real `eventsource` client, parameterised by store
 * so the in-memory and Redis stores can't drift apart.
 */
import {
  createHub,
  type EventStore,
  type Hub,
  type HubOptions,
  parseEventId,
  type ReplayLimits,
} from '@ssekit/core';
import { afterEach, describe, expect, it } from 'vitest';
import { type CoreServer, startCoreServer } from './core-server.js';
import { type EventRecorder, watch } from './event-source.js';

export type StoreFactory = (
  limits?: ReplayLimits,
) => Promise<{ store: EventStore; cleanup: () => Promise<void> }>;

const seqOf = (id: string): number => parseEventId(id)?.seq ?? Number.NaN;

export function describeHubBehaviour(label: string, makeStore: StoreFactory): void {
  describe(`hub behaviour (${label})`, () => {
    const cleanups: Array<() => Promise<void> | void> = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    async function setup(
      limits?: ReplayLimits,
      hubOptions: Omit<HubOptions, 'store'> = {},
    ): Promise<{
      hub: Hub;
      server: CoreServer;
      open: (query: string, types?: string[]) => EventRecorder;
    }> {
      const { store, cleanup } = await makeStore(limits);
      cleanups.push(cleanup);
      const hub = createHub({ ...hubOptions, store });
      cleanups.push(() => hub.close());
      const server = await startCoreServer(hub, { retry: 5 });
      cleanups.push(() => server.close());
      const open = (query: string, types: string[] = []): EventRecorder => {
        const watched = watch(`${server.url}?${query}`, ['ssekit-gap', ...types]);
        cleanups.push(() => watched.close());
        return watched;
      };
      return { hub, server, open };
    }

    it('resumes one channel after a dropped socket: the missed events once, in order, then live', async () => {
      const { hub, server, open } = await setup();
      const client = open('ch=prices');
      await client.until(() => client.opens === 1, 'open');
      const published: string[] = [];
      for (let i = 1; i <= 3; i++) published.push(await hub.publish('prices', { i }));
      await client.until(() => client.ids().length === 3, 'ids 1..3');
      server.dropAll();
      // Published while the client is away (it reconnects only after `retry` ms and a new request).
      for (let i = 4; i <= 6; i++) published.push(await hub.publish('prices', { i }));
      await client.until(() => client.opens === 2, 'reconnect');
      published.push(await hub.publish('prices', { i: 7 }));
      await client.until(() => client.ids().length >= 7, 'missed and live events');
      expect(client.ids()).toEqual(published);
      expect(client.events.map((e) => JSON.parse(e.data).i)).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect(client.events.some((e) => e.type === 'ssekit-gap')).toBe(false);
    });

    it('resumes a subscriber that had no event yet: what was published while it was away arrives', async () => {
      const { hub, server } = await setup();
      // The client's reconnect waits until the test has published: those events are missed for sure.
      let attempts = 0;
      let release: () => void = () => {};
      const published = new Promise<void>((resolve) => {
        release = resolve;
      });
      const client = watch(`${server.url}?ch=quiet`, ['ssekit-gap'], {
        fetch: async (input, init) => {
          if (attempts++ > 0) await published;
          return fetch(input, init);
        },
      });
      cleanups.push(() => client.close());
      await client.until(() => client.opens === 1, 'open');
      // Nothing published yet: the client has no id. Then its connection drops.
      server.dropAll();
      const ids = [await hub.publish('quiet', { i: 1 }), await hub.publish('quiet', { i: 2 })];
      release();
      await client.until(() => client.opens === 2, 'reconnect');
      ids.push(await hub.publish('quiet', { i: 3 }));
      await client.until(() => client.ids().length >= 3, 'missed and live events', 5_000);
      expect(client.ids()).toEqual(ids);
      expect(client.events.some((e) => e.type === 'ssekit-gap')).toBe(false);
    });

    it('resumes three channels at once, merged in id order', async () => {
      const { hub, server, open } = await setup();
      const client = open('ch=a,b,c');
      await client.until(() => client.opens === 1, 'open');
      const published: string[] = [];
      const names = ['a', 'b', 'c'] as const;
      for (let i = 0; i < 6; i++) published.push(await hub.publish(names[i % 3]!, i));
      published.push(await hub.publish('elsewhere', 'not for this client'));
      await client.until(() => client.ids().length === 6, 'first six');
      server.dropAll();
      for (let i = 6; i < 15; i++) published.push(await hub.publish(names[(i * 7) % 3]!, i));
      await client.until(
        () => client.opens === 2 && client.ids().length === 15,
        'resume on three channels',
      );
      expect(client.ids()).toEqual(published.filter((_, i) => i !== 6));
      const seqs = client.ids().map(seqOf);
      expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
    });

    it('signals an evicted id with the gap event, then replays what is still buffered', async () => {
      const { hub, open } = await setup({ maxEvents: 3 });
      const first = await hub.publish('t', 0);
      const rest: string[] = [];
      for (let i = 1; i <= 6; i++) rest.push(await hub.publish('t', i));
      const client = open(`ch=t&lastEventId=${encodeURIComponent(first)}`);
      await client.until(() => client.ids().length === 3, 'available events');
      expect(client.events[0]!.type).toBe('ssekit-gap');
      const notice = JSON.parse(client.events[0]!.data);
      expect(notice).toMatchObject({
        reason: 'evicted',
        lastEventId: first,
        oldestId: rest[3],
        replay: 'available',
      });
      expect(client.ids()).toEqual(rest.slice(3));
    });

    it('with gap replay "none", signals the gap and sends nothing old, then resumes exactly from there', async () => {
      const { hub, server, open } = await setup({ maxEvents: 2 }, { gap: { replay: 'none' } });
      const first = await hub.publish('t', 0);
      for (let i = 1; i <= 4; i++) await hub.publish('t', i);
      const client = open(`ch=t&lastEventId=${encodeURIComponent(first)}`);
      await client.until(() => client.events.length === 1, 'gap event');
      expect(client.events[0]!.type).toBe('ssekit-gap');
      expect(JSON.parse(client.events[0]!.data)).toMatchObject({
        reason: 'evicted',
        replay: 'none',
      });
      const live = await hub.publish('t', 5);
      await client.until(() => client.ids().length === 1, 'live event');
      expect(client.ids()).toEqual([live]);
      server.dropAll();
      await client.until(() => client.opens === 2, 'reconnect');
      const after = await hub.publish('t', 6);
      await client.until(() => client.ids().length === 2, 'next live event');
      expect(client.ids()).toEqual([live, after]);
      expect(client.events.filter((e) => e.type === 'ssekit-gap')).toHaveLength(1);
    });

    it('signals unknown and previous-instance ids, never replaying silently', async () => {
      const { hub, open } = await setup();
      const id = await hub.publish('u', 'kept');
      const older = await makeStore();
      cleanups.push(older.cleanup);
      const otherHub = createHub({ store: older.store });
      cleanups.push(() => otherHub.close());
      // Ahead of this hub's counter, as an id from before a restart usually is.
      for (let i = 0; i < 5; i++) await otherHub.publish('u', 'from another history');
      const foreign = await otherHub.publish('u', 'from another history');
      const cases: Array<[string, string]> = [
        ['not-an-id', 'unknown'],
        [`${parseEventId(id)!.epoch}-999999`, 'unknown'],
        [foreign === id ? `zz${foreign}` : foreign, foreign === id ? 'unknown' : 'stale'],
      ];
      for (const [lastEventId, reason] of cases) {
        const client = open(`ch=u&lastEventId=${encodeURIComponent(lastEventId)}`);
        await client.until(() => client.ids().length === 1, `replay after ${lastEventId}`);
        expect(client.events[0]).toMatchObject({ type: 'ssekit-gap' });
        expect(JSON.parse(client.events[0]!.data)).toMatchObject({
          reason,
          lastEventId,
          oldestId: id,
        });
        expect(client.ids()).toEqual([id]);
        client.close();
      }
    });

    it('reads the lastEventId query parameter, and the header wins over it', async () => {
      const { hub, server } = await setup();
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) ids.push(await hub.publish('q', i));
      const byQuery = watch(`${server.url}?ch=q&lastEventId=${encodeURIComponent(ids[1]!)}`);
      cleanups.push(() => byQuery.close());
      await byQuery.until(() => byQuery.ids().length === 2, 'query replay');
      expect(byQuery.ids()).toEqual(ids.slice(2));
      const both = watch(`${server.url}?ch=q&lastEventId=${encodeURIComponent(ids[0]!)}`, [], {
        fetch: (input, init) =>
          fetch(input, {
            ...init,
            headers: { ...(init?.headers as Record<string, string>), 'Last-Event-ID': ids[2]! },
          }),
      });
      cleanups.push(() => both.close());
      await both.until(() => both.ids().length === 1, 'header replay');
      const next = await hub.publish('q', 4);
      await both.until(() => both.ids().length === 2, 'live');
      expect(both.ids()).toEqual([ids[3], next]);
    });

    it('closing a channel ends its streams, and the reconnect gets 204 so the client stops', async () => {
      const { hub, open } = await setup();
      const client = open('ch=room', ['bye']);
      await client.until(() => client.opens === 1, 'open');
      const errors: Array<{ code?: number | undefined }> = [];
      client.source.addEventListener('error', (event) =>
        errors.push(event as { code?: number | undefined }),
      );
      await hub.closeChannel('room', { final: { event: 'bye', data: 'closed' } });
      await client.until(() => client.source.readyState === client.source.CLOSED, 'client stops');
      // (Its last id is the position it was given on subscribing: it had no event before.)
      expect(client.events.filter((e) => e.type === 'bye')).toEqual([
        { type: 'bye', data: 'closed', lastEventId: expect.stringMatching(/-0$/) },
      ]);
      expect(errors.some((e) => e.code === 204)).toBe(true);
      await expect(hub.publish('room', 'late')).rejects.toThrow(/closed/);
      await hub.reopenChannel('room');
      const again = open('ch=room');
      await again.until(() => again.opens === 1, 'open after reopening');
      const id = await hub.publish('room', 'welcome back');
      await again.until(() => again.ids().length === 1, 'event after reopening');
      expect(again.ids()).toEqual([id]);
    });

    it('keeps ids ordered across channels and filters per client', async () => {
      const { hub, server } = await setup();
      await server.close();
      const filtered = await startCoreServer(hub, {}, { filter: (e) => e.event !== 'noise' });
      cleanups.push(() => filtered.close());
      const client = watch(`${filtered.url}?ch=x,y`, ['tick', 'noise']);
      cleanups.push(() => client.close());
      await client.until(() => client.opens === 1, 'open');
      const kept: string[] = [];
      kept.push(await hub.publish('x', 1, { event: 'tick' }));
      await hub.publish('y', 2, { event: 'noise' });
      kept.push(await hub.publish('y', 3, { event: 'tick' }));
      await client.until(() => client.events.length === 2, 'filtered events');
      expect(client.events.map((e) => e.lastEventId)).toEqual(kept);
      expect(seqOf(kept[1]!)).toBeGreaterThan(seqOf(kept[0]!));
    });

    it('loses nothing while publishes race many reconnecting clients', async () => {
      const { hub, server } = await setup();
      const total = 600;
      const clients = Array.from({ length: 12 }, (_, i) => {
        const watched = watch(`${server.url}?ch=${i % 2 ? 'r1,r2' : 'r1'}`);
        cleanups.push(() => watched.close());
        return watched;
      });
      for (const c of clients) await c.until(() => c.opens === 1, 'open');
      const published: Array<{ id: string; channel: string }> = [];
      const pending: Array<Promise<void>> = [];
      const publish = (i: number): void => {
        const channel = i % 3 === 0 ? 'r2' : 'r1';
        const slot = { id: '', channel };
        published.push(slot);
        pending.push(
          hub.publish(channel, i).then((id) => {
            slot.id = id;
          }),
        );
      };
      // Publishing from the I/O phase, just before each reconnect subscribes, leaves a tick's batch
      // unflushed while the replay snapshot is read: the exact race the handover must survive.
      let extra = 0;
      server.server.prependListener('request', () => {
        for (let k = 0; k < 3; k++) publish(total + extra++);
      });
      for (let i = 0; i < total; i++) {
        publish(i);
        await pending.at(-1);
        // Drop every socket now and then: clients reconnect while the loop keeps publishing.
        if (i % 100 === 50) server.dropAll();
        if (i % 20 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      }
      await Promise.all(pending);
      const last = published.at(-1)!;
      for (const c of clients)
        await c.until(
          () => c.ids().includes(last.id) || last.channel === 'r2',
          'last event',
          20_000,
        );
      await Promise.all(pending);
      for (const [i, c] of clients.entries()) {
        // Concurrent publishes may get ids in another order than they were called: compare by id.
        const mine = published
          .filter((p) => i % 2 || p.channel === 'r1')
          .map((p) => p.id)
          .sort((x, y) => seqOf(x) - seqOf(y));
        await c.until(() => c.ids().length >= mine.length, `client ${i} caught up`, 20_000);
        expect(c.ids()).toEqual(mine);
      }
      expect(clients.every((c) => c.opens >= 2)).toBe(true);
    });
  });
}
