// Bare `ws` fan-out, the broadcast loop as ws's README shows it: every message
// from the publisher (path /pub) is sent to every other open client, one
// send() per client. Each send() frames the message again and writes it at once.
// bufferutil is used by ws when installed, unless WS_NO_BUFFER_UTIL=1.
import { WebSocketServer, WebSocket } from 'ws';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string' } },
});

const wss = new WebSocketServer({ host: values.host, port: Number(values.port), perMessageDeflate: false });
wss.on('connection', (ws, request) => {
  ws.on('error', () => {});
  if (request.url !== '/pub') return;
  ws.on('message', (data, isBinary) => {
    for (const client of wss.clients) {
      if (client !== ws && client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
    }
  });
});
