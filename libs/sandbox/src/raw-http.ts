import { connect } from 'node:net';

/**
 * A bare HTTP/1.1 exchange for tests: writes exact bytes on a fresh socket to 127.0.0.1:port and
 * returns the first final (non-1xx) answer, read by its Content-Length. fetch would add or fix
 * headers; replaying what other clients send needs the bytes as they are.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface RawAnswer { status: number; headers: Record<string, string>; text: string; json: any }

/** Sends exact bytes on a fresh socket; returns the first final (non-1xx) answer. */
export function rawRequest(port: number, bytes: Buffer, timeoutMs = 3000): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no answer within ${timeoutMs} ms; got ${JSON.stringify(buf.toString('latin1'))}`)); }, timeoutMs);
    const tryParse = () => {
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1').split('\r\n');
        const status = Number(head[0].split(' ')[1]);
        const headers: Record<string, string> = {};
        for (const line of head.slice(1)) {
          const i = line.indexOf(':');
          headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
        }
        if (status >= 100 && status < 200) { buf = buf.subarray(end + 4); continue; } // 100 Continue
        const length = Number(headers['content-length'] ?? NaN);
        const body = buf.subarray(end + 4);
        if (Number.isNaN(length) || body.length < length) return;
        clearTimeout(timer);
        socket.destroy();
        const text = body.subarray(0, length).toString('utf8');
        let json: unknown;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status, headers, text, json });
        return;
      }
    };
    socket.on('data', (d) => { buf = Buffer.concat([buf, d]); tryParse(); });
    socket.on('error', (e) => { clearTimeout(timer); reject(e); });
    socket.on('connect', () => socket.write(bytes));
  });
}

