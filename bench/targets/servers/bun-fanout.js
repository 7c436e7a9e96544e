// Bare Bun.serve fan-out (run by Bun), with Bun's own shared-frame fan-out: every
// connection to /sub subscribes to the topic "bench" (ws.subscribe), and every message
// from the publisher on /pub goes out with server.publish('bench', message), which frames
// it once and writes that frame to every subscriber (uWebSockets' pub/sub). Other paths
// are refused. The reference the Lifeline-on-Bun fan-out target is held to (issue 17).
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string' } } });

const server = Bun.serve({
  hostname: values.host,
  port: Number(values.port),
  fetch(request, server) {
    const { pathname } = new URL(request.url);
    if ((pathname === '/sub' || pathname === '/pub') && server.upgrade(request, { data: { publisher: pathname === '/pub' } })) return undefined;
    return new Response('WebSocket only, on /sub or /pub', { status: 426 });
  },
  websocket: {
    perMessageDeflate: false,
    open(ws) {
      if (!ws.data.publisher) ws.subscribe('bench');
    },
    message(ws, message) {
      if (ws.data.publisher) server.publish('bench', message);
    },
  },
});
