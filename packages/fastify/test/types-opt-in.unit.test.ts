/**
 * What a user's compiler sees, each case in its own program (a global augmentation can't be
 * undone inside one): without `Register`, `reply.sse` is possibly undefined; with it, it isn't.
 */
import { fileURLToPath } from 'node:url';
import { userDiagnostics } from '@ssekit/test-support/type-check';
import { describe, expect, it } from 'vitest';

const here = fileURLToPath(new URL('.', import.meta.url));
const diagnostics = (source: string): string[] => userDiagnostics(here, source);

const handler = `
import Fastify from 'fastify';
import ssekit, { createHub } from '@ssekit/fastify';
export const hub = createHub<{ prices: number }>();
const app = Fastify();
await app.register(ssekit, { hub });
app.get('/prices', async (_request, reply) => {
  await reply.sse.subscribe('prices');
});
`;

describe('reply.sse typing as a user sees it', () => {
  it('is possibly undefined for an app that never declared the plugin registered', () => {
    expect(diagnostics(handler)).toEqual(["'reply.sse' is possibly 'undefined'."]);
  }, 30_000);

  it('is non-optional, with the hub channel names, once Register is declared', () => {
    const declared = `${handler}
declare module '@ssekit/fastify' {
  interface Register { hub: typeof hub }
}
app.get('/weather', async (_request, reply) => {
  await reply.sse.subscribe('weather');
});
`;
    const errors = diagnostics(declared);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/Argument of type '"weather"' is not assignable/);
  }, 30_000);
});
