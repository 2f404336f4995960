/**
 * The opt-in an app writes once it mounts `sse()` app-wide: `res.sse` is then non-optional. The
 * tests' apps all mount it, so the repository declares it, once for its one type-check program.
 * What an app that never declares it sees is tested in types-opt-in.unit.test.ts.
 */
declare module '@ssekit/express' {
  interface Register {
    registered: true;
  }
}

export {};
