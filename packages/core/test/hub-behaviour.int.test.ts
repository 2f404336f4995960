import { memoryStore } from '@ssekit/core';
import { describeHubBehaviour } from '../../../test/support/hub-behaviour.js';

describeHubBehaviour('memory', async (limits) => ({
  store: memoryStore(limits),
  cleanup: async () => {},
}));
