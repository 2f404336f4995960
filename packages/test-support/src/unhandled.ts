/** Unhandled rejections seen while a test file runs, so a test can assert there were none. */
import { afterAll } from 'vitest';

/** Starts recording for the calling test file; stops after its last test. */
export function recordUnhandledRejections(): unknown[] {
  const seen: unknown[] = [];
  const record = (reason: unknown): void => {
    seen.push(reason);
  };
  process.on('unhandledRejection', record);
  afterAll(() => {
    process.off('unhandledRejection', record);
  });
  return seen;
}
