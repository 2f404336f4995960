/**
 * The stock ticker's hub code, shared by the Express and the Fastify server: a feed of
 * simulated prices published on the `prices` channel.
 */

export const SYMBOLS = ['ACME', 'GLOBEX', 'INITECH', 'UMBRELLA', 'HOOLI', 'STARK'];

const round = (value) => Math.round(value * 100) / 100;

/**
 * Moves every price a little each tick and publishes one event per symbol, `{ symbol, price,
 * change, time }`. A tick's events leave in one write per client: the hub coalesces a burst.
 *
 * @param {import('@ssekit/core').Hub} hub
 * @param {{ intervalMs?: number, onPublish?: (id: string, quote: object) => void }} [options]
 *   `intervalMs: 0` publishes only when `tick()` is called. `onPublish` sees each event's id.
 */
export function startPriceFeed(hub, { intervalMs = 250, onPublish } = {}) {
  const prices = new Map(SYMBOLS.map((symbol, i) => [symbol, 40 + 37 * i]));

  function tick() {
    for (const [symbol, price] of prices) {
      const next = round(Math.max(1, price * (1 + (Math.random() - 0.5) / 50)));
      prices.set(symbol, next);
      const quote = { symbol, price: next, change: round(next - price), time: Date.now() };
      hub.publish('prices', quote).then(
        (id) => onPublish?.(id, quote),
        // A closed channel (hub.closeChannel) refuses new events: the feed stops.
        () => stop(),
      );
    }
  }

  const timer = intervalMs > 0 ? setInterval(tick, intervalMs) : undefined;
  // The feed alone never keeps the process alive: the server does.
  timer?.unref();
  function stop() {
    clearInterval(timer);
  }
  return { tick, stop };
}
