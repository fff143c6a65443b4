import { Agent as HttpAgent, IncomingHttpHeaders, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/**
 * One HTTP exchange's answer: the status and headers, and the body, read from the moment the
 * headers arrive (it rejects when the connection breaks or the time runs out before its end).
 */
export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Promise<string>;
}

/**
 * Why an exchange failed, and whether a byte of the request can have reached the provider:
 * `sent: false` only when the request provably never left this process (no connection was
 * ever made for it), so a credit call that failed this way cannot have been applied.
 */
export class HttpExchangeError extends Error {
  constructor(
    message: string,
    readonly sent: boolean,
    readonly timedOut: boolean,
    readonly code?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HttpExchangeError';
  }
}

/**
 * Idle connections are closed after 4 s unless the server announces a shorter keep-alive: a
 * reused connection the server has already closed fails the next call in doubt, so it must be
 * given up before the server gives it up (5 s is the common server default).
 */
const IDLE_MS = 4_000;

/**
 * HTTP/1.1 with keep-alive through node's own client (one agent per scheme): a fraction of
 * `fetch`'s CPU per call, which at the worker's full rate is the worker's thread (see
 * docs/benchmarks.md, issue 16, eighth pass). Redirects are never followed (node's client
 * follows none); the whole exchange, connecting included, has one time budget. Idle
 * connections are unreferenced: they never keep a process alive.
 */
export class HttpExchange {
  private readonly agent: HttpAgent;
  private readonly request: typeof httpRequest;

  constructor(private readonly base: URL) {
    const https = base.protocol === 'https:';
    this.agent = https ? new HttpsAgent({ keepAlive: true, timeout: IDLE_MS }) : new HttpAgent({ keepAlive: true, timeout: IDLE_MS });
    this.request = https ? httpsRequest : httpRequest;
  }

  send(path: string, method: 'GET' | 'POST', headers: Record<string, string>, body: string | undefined, timeoutMs: number): Promise<HttpAnswer> {
    return new Promise<HttpAnswer>((resolve, reject) => {
      let written = false;
      let answered = false;
      const req = this.request(new URL(this.base.pathname.replace(/\/$/, '') + path, this.base), {
        method,
        agent: this.agent,
        headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      });
      // A byte can have left only once a socket is connected: until then, the request sits in
      // the agent's queue or in a socket still connecting, and nothing has been written.
      const onConnected = () => {
        written = true;
      };
      req.once('socket', (socket) => {
        if (socket.connecting) socket.once('connect', onConnected);
        else onConnected();
      });
      // The time budget covers everything, connecting and the answer's body included.
      let failure: HttpExchangeError | undefined;
      const timer = setTimeout(() => {
        failure = new HttpExchangeError(`timeout after ${timeoutMs}ms`, written, true);
        req.destroy(failure);
      }, timeoutMs);
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (answered) return;
        clearTimeout(timer);
        reject(failure ?? new HttpExchangeError(err.message, written, false, err.code, { cause: err }));
      });
      req.once('response', (res) => {
        answered = true;
        const body = new Promise<string>((done, broken) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.once('end', () => {
            clearTimeout(timer);
            done(text);
          });
          res.on('error', (err: NodeJS.ErrnoException) => broken(failure ?? new HttpExchangeError(err.message, true, false, err.code, { cause: err })));
          res.once('close', () => {
            clearTimeout(timer);
            if (!res.complete) broken(failure ?? new HttpExchangeError('connection closed before the end of the answer', true, false));
          });
        });
        // Read or not (a 429's body is not), a broken body must not surface as unhandled.
        body.catch(() => undefined);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
      });
      req.end(body);
    });
  }
}
