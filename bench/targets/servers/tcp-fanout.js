// Raw TCP fan-out: the ceiling. A connection's first bytes up to the blank
// line are its "handshake" and are echoed back (the generator checks them);
// after that, each chunk the publisher (request line "GET /pub ") sends is
// written unchanged to every subscriber: one write per subscriber per chunk,
// no framing, no parsing. Frames stay masked; the generator parses those too.
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string' } },
});

const subscribers = new Set();
const END = Buffer.from('\r\n\r\n');

net
  .createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => {});
    let head = Buffer.alloc(0);
    const onHead = (chunk) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf(END);
      if (end < 0) return;
      socket.off('data', onHead);
      socket.write(head.subarray(0, end + 4));
      if (head.toString('latin1', 0, 9) === 'GET /pub ') {
        const forward = (data) => {
          for (const s of subscribers) s.write(data);
        };
        if (head.length > end + 4) forward(head.subarray(end + 4));
        socket.on('data', forward);
      } else {
        subscribers.add(socket);
        socket.on('close', () => subscribers.delete(socket));
      }
    };
    socket.on('data', onHead);
  })
  .listen(Number(values.port), values.host);
