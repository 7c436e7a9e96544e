// Bare `ws` echo server: every message goes back with the same opcode.
// bufferutil is used by ws when installed, unless WS_NO_BUFFER_UTIL=1.
// --ping-interval MS adds the ping/terminate loop from the ws README (one
// timer sweeping all clients), used as the heartbeat scenario's reference.
import { WebSocketServer } from 'ws';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    'ping-interval': { type: 'string', default: '0' },
  },
});

const wss = new WebSocketServer({ host: values.host, port: Number(values.port), perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.isAlive = true;
  ws.on('pong', () => { ws.isAlive = true; });
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});

const interval = Number(values['ping-interval']);
if (interval > 0) {
  setInterval(() => {
    for (const ws of wss.clients) {
      if (!ws.isAlive) { ws.terminate(); continue; }
      ws.isAlive = false;
      ws.ping();
    }
  }, interval);
}
