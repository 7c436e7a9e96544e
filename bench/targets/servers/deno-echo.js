// Bare Deno.serve + Deno.upgradeWebSocket echo (run by Deno): every message goes back with
// the same type. The reference the Lifeline-on-Deno target is held to (issue 17).
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string' } } });

Deno.serve({ hostname: values.host, port: Number(values.port), onListen() {} }, (request) => {
  if (request.headers.get('upgrade')?.toLowerCase() !== 'websocket') return new Response('WebSocket only', { status: 426 });
  const { socket, response } = Deno.upgradeWebSocket(request);
  socket.binaryType = 'arraybuffer';
  socket.onmessage = (event) => socket.send(event.data);
  socket.onerror = () => {};
  return response;
});
