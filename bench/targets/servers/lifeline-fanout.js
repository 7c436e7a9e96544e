// Lifeline fan-out through a channel (docs/server.md "Channels"), default app
// options but for the abuse limits (docs/server.md "Limits"): its 5,000–10,000
// subscribers all come from 127.0.0.1, and the publisher's rate is whatever the server
// sustains, so both limits are set where no run reaches them (still in the path). Every connection to /sub is subscribed to "bench" by server code: a
// raw client receives each publication as a plain message, a Lifeline client
// (lifeline.v1) as a `p` envelope after a `$subscribed` request. Each message
// from the publisher on /pub, a raw route, is published as a string with
// app.publish(): the hub encodes it once per wire format and writes the same
// frame to every subscriber, coalesced per event-loop turn.
import { createApp } from '@lifeline/server';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string' } },
});

const app = createApp({
  logger: 'silent',
  maxConnectionsPerIp: 1_000_000,
  rateLimit: { messagesPerSecond: 100_000_000, bytesPerSecond: 100_000_000_000 },
});
app.ws('/sub', { lifeline: true }, (socket) => {
  socket.subscribe('bench').catch((error) => console.error('subscribe failed:', error));
});
app.ws('/pub', (socket) => {
  socket.on('message', (message) => {
    app.publish('bench', message.text).catch((error) => console.error('publish failed:', error));
  });
});
await app.listen(Number(values.port), values.host);
