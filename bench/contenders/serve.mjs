/**
 * Mounting the contract on each stack a contender runs on: POST /broadcast and GET /stats next to
 * the contender's own GET /sse, listening on a free loopback port that is then reported to the driver.
 */
import { createServer } from 'node:http';
import { reportReady } from './common.mjs';

/** node:http: `handleSse(req, res)` takes GET /sse, the control takes its two routes, the rest 404s. */
export function serveNodeHttp(control, handleSse) {
  const server = createServer((req, res) => {
    if (handleControl(control, req, res)) return;
    if (req.method === 'GET' && req.url === '/sse') {
      handleSse(req, res);
      return;
    }
    res.writeHead(404).end();
  });
  server.listen(0, '127.0.0.1', () => reportReady(server.address().port));
}

/** Express, after the app's own /sse route (so middleware it `use`d runs for these too). */
export function serveExpress(app, control) {
  app.post('/broadcast', (req, res, next) => {
    control.broadcast(expressQuery(req)).then((r) => res.json(r), next);
  });
  app.get('/stats', (req, res) => res.json(control.stats(expressQuery(req))));
  const server = app.listen(0, '127.0.0.1', () => reportReady(server.address().port));
}

function expressQuery(req) {
  return new URLSearchParams(req.url.split('?')[1] ?? '');
}

export async function serveFastify(app, control) {
  app.post('/broadcast', (request) => control.broadcast(new URLSearchParams(request.query)));
  app.get('/stats', (request) => control.stats(new URLSearchParams(request.query)));
  await app.listen({ port: 0, host: '127.0.0.1' });
  reportReady(app.server.address().port);
}

/** The raw contenders' GET /sse: commit the headers now and keep `res` in `clients` until it closes. */
export function openRawStream(res, clients) {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  res.flushHeaders();
  clients.add(res);
  res.on('close', () => clients.delete(res));
}

/** Returns true when it handled the request. */
function handleControl(control, req, res) {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method === 'POST' && path === '/broadcast') {
    control.broadcast(queryOf(req.url)).then(
      (result) => sendJson(res, 200, result),
      (error) => sendJson(res, 500, { error: String(error) }),
    );
    return true;
  }
  if (req.method === 'GET' && path === '/stats') {
    sendJson(res, 200, control.stats(queryOf(req.url)));
    return true;
  }
  return false;
}

function queryOf(url) {
  return new URL(url ?? '/', 'http://127.0.0.1').searchParams;
}

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}
