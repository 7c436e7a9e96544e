/** Small JSON-over-HTTP helpers for the app's own endpoints (publish, handshake check). */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Answers `body` as JSON; an error status wraps it as `{ "error": body }`. */
export function replyJson(response: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(status === 200 ? body : { error: body });
  response.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(payload), ...headers });
  response.end(payload);
}

/** The whole body, or `undefined` once it passes `max` bytes (the rest is not read). */
export function readBody(request: IncomingMessage, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        request.off('data', onData);
        request.pause();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    request.on('data', onData);
    request.once('end', () => resolve(Buffer.concat(chunks)));
    request.once('error', reject);
  });
}
