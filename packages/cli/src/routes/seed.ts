import type { App } from '@lifeline/server';

/** What the seed's Flask server sent after every exchange. */
export const SEED_MARKER = '111111111';

/**
 * The seed's system, byte for byte, so a page written like the seed's works unchanged:
 * - `GET /` answers `Hello World! server start!`;
 * - `/test` sends `111111111`, then answers each text message with Python's
 *   `json.dumps(message)` (see {@link pythonJsonString}) followed by `111111111` again.
 *   `heartCheck`, the seed page's heartbeat, is a message like any other there: `"heartCheck"`
 *   then `111111111`. Every reply is valid JSON, so a client that runs `JSON.parse` on every
 *   message never throws.
 * - A binary message, which the seed could not answer (`json.dumps` of bytes raises
 *   `TypeError`, and the connection ends), gets the JSON string of its base64 text, then
 *   `111111111`: docs/cli.md.
 */
export function addSeedRoutes(app: App): void {
  app.get('/', (_request, response) => {
    response.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
    response.end('Hello World! server start!');
  });

  app.ws('/test', (socket) => {
    socket.send(SEED_MARKER);
    socket.on('message', (message) => {
      if (app.logger.enabled('debug')) {
        app.logger.log('debug', 'seed-message', { id: socket.id, text: message.binary ? `<${message.size} bytes>` : message.text });
      }
      socket.send(pythonJsonString(message.binary ? message.data.toString('base64') : message.text));
      socket.send(SEED_MARKER);
    });
  });
}

/** Code units past `~` (DEL and every non-ASCII one, each half of a surrogate pair on its own). */
const NOT_ASCII = /[\u007f-\uffff]/g;
const escapeUnit = (unit: string) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * What Python's `json.dumps(text)` returns (default `ensure_ascii=True`): `JSON.stringify`
 * already escapes `"`, `\` and the control characters exactly as Python does (`\n`, `\t`,
 * `\b`, `\f`, `\r`, other ones as `\u00XX` in lower case) and leaves `/` alone; Python
 * also escapes every code unit from DEL (U+007F) up as `\uXXXX` in lower case, so an
 * astral character becomes its surrogate pair (`😀` → `\ud83d\ude00`) and the reply is
 * plain ASCII.
 */
export function pythonJsonString(text: string): string {
  return JSON.stringify(text).replace(NOT_ASCII, escapeUnit);
}
