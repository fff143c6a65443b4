'use strict';
// A small closed-loop HTTP load generator: `clients` virtual clients on keep-alive
// connections, each sending its next request when the previous one answered. Bounded by
// duration AND by a request count; requests answered during the warm-up are not counted.
const http = require('node:http');

/**
 * @param {object} o
 * @param {string} o.baseUrl
 * @param {number} o.clients
 * @param {number} o.durationMs measured time (after the warm-up)
 * @param {number} [o.warmupMs]
 * @param {number} [o.maxRequests] hard bound on requests sent
 * @param {(i: number) => {method: string, path: string, headers?: object, body?: string}} o.request
 */
async function closedLoop({ baseUrl, clients, durationMs, warmupMs = 1000, maxRequests = 1_000_000, request }) {
  const url = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients, maxFreeSockets: clients });
  const latencies = [];
  const statuses = {};
  let sent = 0;
  let errors = 0;
  const start = Date.now();
  const measureFrom = start + warmupMs;
  const end = measureFrom + durationMs;
  let measuredFirst = Infinity;
  let measuredLast = 0;

  const one = (req) => new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const r = http.request({ host: url.hostname, port: url.port, method: req.method, path: req.path, agent, headers: req.headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
    });
    r.on('error', () => resolve({ status: 0, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
    if (req.body) r.end(req.body); else r.end();
  });

  async function client() {
    while (Date.now() < end && sent < maxRequests) {
      const i = sent++;
      const startedAt = Date.now();
      const res = await one(request(i));
      if (startedAt >= measureFrom && Date.now() <= end) {
        latencies.push(res.ms);
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
        if (res.status === 0 || res.status >= 400) errors++;
        measuredFirst = Math.min(measuredFirst, startedAt);
        measuredLast = Math.max(measuredLast, Date.now());
      }
    }
  }
  await Promise.all(Array.from({ length: clients }, client));
  agent.destroy();
  const elapsedS = Math.max(1e-3, (Math.min(end, measuredLast) - measureFrom) / 1000);
  return { latencies, statuses, errors, sent, rps: latencies.length / elapsedS, elapsedS };
}

/** Sends requests at a fixed rate (open loop) for `durationMs`; resolves when all answered. */
async function openLoop({ baseUrl, ratePerSecond, durationMs, request }) {
  const url = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const n = Math.max(1, Math.floor((ratePerSecond * durationMs) / 1000));
  const start = Date.now();
  const done = [];
  for (let i = 0; i < n; i++) {
    const due = start + (i * 1000) / ratePerSecond;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const req = request(i);
    done.push(new Promise((resolve) => {
      const r = http.request({ host: url.hostname, port: url.port, method: req.method, path: req.path, agent, headers: req.headers }, (res) => {
        let text = '';
        res.on('data', (c) => { text += c; });
        res.on('end', () => resolve({ status: res.statusCode, text }));
      });
      r.on('error', (err) => resolve({ status: 0, text: err.message }));
      r.end(req.body);
    }));
  }
  const results = await Promise.all(done);
  agent.destroy();
  return results;
}

/**
 * One request on a connection of its own (no keep-alive pool): a long request after a quiet
 * spell must not be written onto a pooled socket the server is just closing (EPIPE).
 */
function requestOnce(baseUrl, { method, path, headers, body }, timeoutMs = 600_000) {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const r = http.request({ host: url.hostname, port: url.port, method, path, headers, agent: false, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    r.on('timeout', () => r.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    r.on('error', reject);
    r.end(body);
  });
}

module.exports = { closedLoop, openLoop, requestOnce };
