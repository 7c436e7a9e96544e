// Bare Deno.serve fan-out (run by Deno): Deno's WebSocket has no topics and no way to send
// one frame to many sockets, so this is the broadcast loop, one send() per subscriber for
// every message from the publisher on /pub; each send() frames the message again.
// Connections to /sub are the subscribers; other paths are refused. The reference the
// Lifeline-on-Deno fan-out target is held to (issue 17).
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string' } } });

const subscribers = new Set();
Deno.serve({ hostname: values.host, port: Number(values.port), onListen() {} }, (request) => {
  const { pathname } = new URL(request.url);
  if (request.headers.get('upgrade')?.toLowerCase() !== 'websocket' || (pathname !== '/sub' && pathname !== '/pub')) {
    return new Response('WebSocket only, on /sub or /pub', { status: 426 });
  }
  const { socket, response } = Deno.upgradeWebSocket(request);
  socket.onerror = () => {};
  if (pathname === '/sub') {
    socket.onopen = () => subscribers.add(socket);
    socket.onclose = () => subscribers.delete(socket);
  } else {
    socket.onmessage = (event) => {
      for (const subscriber of subscribers) if (subscriber.readyState === WebSocket.OPEN) subscriber.send(event.data);
    };
  }
  return response;
});
