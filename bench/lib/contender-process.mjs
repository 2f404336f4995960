/** Starts one contender server as a child process and talks to its control endpoints. */
import { fork } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

const READY_TIMEOUT_MS = 30_000;
const REQUEST_TIMEOUT_MS = 120_000;

export class ContenderProcess {
  /**
   * @param {{ key: string, file: string }} contender
   * @param {{ cpuProfDir?: string, env?: Record<string,string> }} [options]
   */
  constructor(contender, options = {}) {
    this.contender = contender;
    this.options = options;
    this.child = undefined;
    this.port = 0;
    this.exited = false;
  }

  async start() {
    const file = fileURLToPath(new URL(`../contenders/${this.contender.file}`, import.meta.url));
    const execArgv = ['--expose-gc'];
    if (this.options.cpuProfDir)
      execArgv.push('--cpu-prof', `--cpu-prof-dir=${this.options.cpuProfDir}`);
    const child = fork(file, this.contender.args ?? [], {
      execArgv,
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      env: { ...process.env, ...(this.options.env ?? {}) },
    });
    this.child = child;
    this.relayStderr(child.stderr);
    child.on('exit', () => {
      this.exited = true;
    });
    this.port = await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.contender.key}: not ready in time`)),
        READY_TIMEOUT_MS,
      );
      child.once('message', (message) => {
        clearTimeout(timer);
        if (message && message.type === 'ready') resolve(message.port);
        else
          reject(new Error(`${this.contender.key}: unexpected message ${JSON.stringify(message)}`));
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${this.contender.key}: exited with ${code} before ready`));
      });
    });
    return this;
  }

  /**
   * Passes the first lines of a contender's stderr through and counts the rest: a peer that
   * warns on every burst (MaxListenersExceededWarning) would otherwise flood the log.
   */
  relayStderr(stream) {
    this.stderrLines = 0;
    this.stderrFirst = [];
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (text) => {
      const lines = (partial + text).split('\n');
      partial = lines.pop();
      for (const line of lines) {
        if (line.trim() === '') continue;
        this.stderrLines++;
        if (this.stderrFirst.length < 3) {
          this.stderrFirst.push(line);
          process.stderr.write(`  [${this.contender.key} stderr] ${line}\n`);
        }
      }
    });
  }

  stats({ gc = false } = {}) {
    return request(this.port, 'GET', `/stats${gc ? '?gc=1' : ''}`);
  }

  broadcast({ count, size, interval = 0, ids = false }) {
    const query = `count=${count}&size=${size}${interval ? `&interval=${interval}` : ''}${ids ? '&ids=1' : ''}`;
    return request(this.port, 'POST', `/broadcast?${query}`);
  }

  /** Polls /stats (bounded) until the server counts `n` subscribed clients. */
  async waitForClients(n, timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const stats = await this.stats();
      if (stats.clients === n) return stats;
      if (Date.now() > deadline)
        throw new Error(
          `${this.contender.key}: ${stats.clients} clients subscribed, expected ${n}`,
        );
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Asks the child to exit (flushing a CPU profile if one is being taken); kills it if it won't. */
  async stop() {
    const child = this.child;
    if (!child || this.exited) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    if (child.connected) child.send({ type: 'exit' });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    const more = this.stderrLines - this.stderrFirst.length;
    if (more > 0)
      process.stderr.write(`  [${this.contender.key} stderr] ... ${more} more line(s) not shown\n`);
  }
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

/** One control request; rejects on a non-2xx status or after a bounded time. */
export function request(port, method, path) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path, agent, timeout: REQUEST_TIMEOUT_MS },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          if (res.statusCode < 200 || res.statusCode >= 300)
            reject(new Error(`${method} ${path}: ${res.statusCode} ${text}`));
          else resolve(JSON.parse(text));
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}
