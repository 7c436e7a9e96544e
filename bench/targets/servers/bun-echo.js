// Bare Bun.serve WebSocket echo (run by Bun): every message goes back with the same type.
// The reference the Lifeline-on-Bun target is held to (issue 17).
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string' } } });

Bun.serve({
  hostname: values.host,
  port: Number(values.port),
  fetch(request, server) {
    if (server.upgrade(request)) return undefined;
    return new Response('WebSocket only', { status: 426 });
  },
  websocket: {
    perMessageDeflate: false,
    message(ws, message) {
      ws.send(message);
    },
  },
});
