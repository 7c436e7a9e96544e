// socket.io 4 echo server: every "m" event is emitted back to its sender.
// Default engine.io settings (pingInterval 25 s, pingTimeout 20 s).
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string' } },
});

const http = createServer();
const io = new Server(http, { serveClient: false });
io.on('connection', (socket) => {
  socket.on('m', (data) => socket.emit('m', data));
});
http.listen(Number(values.port), values.host);
