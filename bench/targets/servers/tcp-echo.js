// Raw TCP echo server: the ceiling. Echoes the generator's bytes unchanged
// (handshake request and masked frames included).
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string' } },
});

net
  .createServer({ noDelay: true }, (socket) => {
    socket.on('data', (chunk) => socket.write(chunk));
    socket.on('error', () => {});
  })
  .listen(Number(values.port), values.host);
