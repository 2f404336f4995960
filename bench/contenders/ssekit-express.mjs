/** (2) @ssekit/express: `app.use(sse({ hub }))` and `app.get('/sse', channel('bcast'))`. */
import { createHub } from '@ssekit/core';
import { channel, sse } from '@ssekit/express';
import express from 'express';
import { createHubControl } from './common.mjs';
import { serveExpress } from './serve.mjs';

const hub = createHub();

const control = createHubControl(hub, {
  name: 'ssekit-express',
  variant: "@ssekit/express on express 5.3.0, sse({ hub }) + channel('bcast'), in-memory hub",
});

const app = express();
app.use(sse({ hub }));
app.get('/sse', channel('bcast'));
serveExpress(app, control);
