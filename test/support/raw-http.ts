import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  raw: string;
}

/** A valid upgrade request for `path`; override or drop headers with `headers` (null drops). */
export function upgradeRequest(path: string, port: number, headers: Record<string, string | null> = {}, method = 'GET'): string {
  const base: Record<string, string | null> = {
    Host: `127.0.0.1:${port}`,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    'Sec-WebSocket-Version': '13',
    ...headers,
  };
  const lines = Object.entries(base)
    .filter((entry): entry is [string, string] => entry[1] !== null)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  return `${method} ${path} HTTP/1.1\r\n${lines}\r\n`;
}

/** Sends raw bytes and reads the HTTP answer head (and body up to Content-Length or close). */
export function rawHttp(port: number, request: string, timeoutMs = 5000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer within ${timeoutMs} ms; got ${JSON.stringify(data)}`));
    }, timeoutMs);
    const finish = () => {
      const parsed = parseResponse(data);
      if (!parsed) return false;
      clearTimeout(timer);
      socket.destroy();
      resolve(parsed);
      return true;
    };
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
      finish();
    });
    socket.on('close', () => {
      if (!finish()) {
        clearTimeout(timer);
        reject(new Error(`connection closed; got ${JSON.stringify(data)}`));
      }
    });
    socket.on('error', () => {});
    socket.write(request);
  });
}

function parseResponse(data: string): RawResponse | null {
  const end = data.indexOf('\r\n\r\n');
  if (end === -1) return null;
  const [statusLine, ...headerLines] = data.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const i = line.indexOf(':');
    headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  const status = Number(statusLine!.split(' ')[1]);
  const body = data.slice(end + 4);
  const length = headers['content-length'];
  if (status === 101) return { status, headers, body, raw: data };
  if (length !== undefined && Buffer.byteLength(body, 'latin1') < Number(length)) return null;
  return { status, headers, body: Buffer.from(body, 'latin1').toString('utf8'), raw: data };
}

/**
 * Opens a TCP connection and completes a WebSocket handshake by hand; returns the socket
 * after the 101. `allowHalfOpen`: the socket does not end its side when the server ends
 * its own (net's option), so a test decides when the client sends its FIN.
 */
export function rawWebSocket(port: number, path: string, headers: Record<string, string | null> = {}, options: { allowHalfOpen?: boolean } = {}): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: options.allowHalfOpen ?? false });
    let data = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      const end = data.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onData);
      const head = data.subarray(0, end).toString('latin1');
      if (!head.startsWith('HTTP/1.1 101')) {
        socket.destroy();
        reject(new Error(`handshake refused: ${head}`));
        return;
      }
      // Frames that came with the 101 go back into the stream, which stays paused until
      // the caller (resumed by this promise) has had its turn to add a 'data' listener.
      socket.pause();
      const rest = data.subarray(end + 4);
      if (rest.length) socket.unshift(rest);
      resolve(socket);
      setImmediate(() => socket.resume());
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(upgradeRequest(path, port, headers));
  });
}

/** A masked client frame (RFC 6455 §5.2). */
export function clientFrame(opcode: number, payload: Buffer | string, { fin = true, rsv = 0, mask = true } = {}): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const len = data.length;
  const header: number[] = [(fin ? 0x80 : 0) | (rsv << 4) | opcode];
  const maskBit = mask ? 0x80 : 0;
  if (len < 126) header.push(maskBit | len);
  else if (len < 65536) header.push(maskBit | 126, len >> 8, len & 0xff);
  else {
    header.push(maskBit | 127, 0, 0, 0, 0);
    header.push((len >>> 24) & 0xff, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff);
  }
  if (!mask) return Buffer.concat([Buffer.from(header), data]);
  const key = randomBytes(4);
  const masked = Buffer.alloc(len);
  for (let i = 0; i < len; i++) masked[i] = data[i]! ^ key[i & 3]!;
  return Buffer.concat([Buffer.from(header), key, masked]);
}
