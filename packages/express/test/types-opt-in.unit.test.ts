/**
 * What a user's compiler sees, each case in its own program (a global augmentation can't be
 * undone inside one): without `Register`, `res.sse` is possibly undefined; with it, it isn't.
 * The same contract as `reply.sse` in @ssekit/fastify.
 */
import { fileURLToPath } from 'node:url';
import { userDiagnostics } from '@ssekit/test-support/type-check';
import { describe, expect, it } from 'vitest';

const here = fileURLToPath(new URL('.', import.meta.url));
const diagnostics = (source: string): string[] => userDiagnostics(here, source);

const handler = `
import express from 'express';
import { createHub, sse } from '@ssekit/express';
export const hub = createHub<{ prices: number }>();
const app = express();
app.use(sse({ hub }));
app.get('/prices', async (_req, res) => {
  await res.sse.subscribe('prices');
});
`;

describe('res.sse typing as a user sees it', () => {
  it('is possibly undefined for an app that never declared sse() mounted', () => {
    expect(diagnostics(handler)).toEqual(["'res.sse' is possibly 'undefined'."]);
  }, 30_000);

  it('is non-optional, with the hub channel names, once Register is declared', () => {
    const declared = `${handler}
declare module '@ssekit/express' {
  interface Register { hub: typeof hub }
}
app.get('/weather', async (_req, res) => {
  await res.sse.subscribe('weather');
});
`;
    const errors = diagnostics(declared);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/Argument of type '"weather"' is not assignable/);
  }, 30_000);
});
