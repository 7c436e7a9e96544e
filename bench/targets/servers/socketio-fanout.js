// socket.io 4 fan-out with a room: subscribers join "bench" on connect; every
// "m" event from the publisher (handshake query role=pub) is emitted to the
// room with io.to('bench').emit('m', data). Default engine.io settings.
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string' } },
});

const http = createServer();
const io = new Server(http, { serveClient: false });
io.on('connection', (socket) => {
  if (socket.handshake.query.role === 'pub') socket.on('m', (data) => io.to('bench').emit('m', data));
  else socket.join('bench');
});
http.listen(Number(values.port), values.host);
