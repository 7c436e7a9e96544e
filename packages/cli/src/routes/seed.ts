import type { App } from '@lifeline/server';

/** What the seed's Flask server sent after every exchange. */
export const SEED_MARKER = '111111111';

/**
 * The seed's system, so a page written like the seed's works unchanged:
 * - `GET /` answers `Hello World! server start!`;
 * - `/test` sends `111111111`, then answers each message with its JSON string encoding
 *   (the text `123` comes back as `"123"`) followed by `111111111` again. Every reply is
 *   valid JSON, so a client that runs `JSON.parse` on every message never throws.
 *   The seed page's `heartCheck` heartbeat is answered (as the JSON string `"heartCheck"`)
 *   without reaching the handler.
 */
export function addSeedRoutes(app: App): void {
  app.get('/', (_request, response) => {
    response.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
    response.end('Hello World! server start!');
  });

  app.ws('/test', { textHeartbeat: { message: 'heartCheck', reply: JSON.stringify('heartCheck') } }, (socket) => {
    socket.send(SEED_MARKER);
    socket.on('message', (message) => {
      if (app.logger.enabled('debug')) {
        app.logger.log('debug', 'seed-message', { id: socket.id, text: message.binary ? `<${message.size} bytes>` : message.text });
      }
      socket.send(JSON.stringify(message.binary ? message.data.toString('base64') : message.text));
      socket.send(SEED_MARKER);
    });
  });
}
