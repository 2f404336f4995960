import { memoryStore } from '@ssekit/core';
import { describeHubBehaviour } from '@ssekit/test-support';

describeHubBehaviour('memory', async (limits) => ({
  store: memoryStore(limits),
  cleanup: async () => {},
}));
