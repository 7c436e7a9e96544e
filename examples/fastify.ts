// Lifeline's WebSocket side on an existing Fastify instance. Run: npx tsx examples/fastify.ts
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import Fastify from 'fastify';
import { createApp } from '@lifeline/server';

export async function start(port = 3000, host = '127.0.0.1') {
  const lifeline = createApp();
  lifeline.ws('/chat/:room', (socket) => {
    socket.on('message', (message) => socket.send(`[${socket.params.room}] ${message.text}`));
  });

  const fastify = Fastify();
  fastify.get('/health', async () => ({ ok: true }));
  // Plain GET /chat/lobby -> Lifeline answers 426 "connect to ws://..." and Fastify stands aside.
  fastify.addHook('onRequest', (request, reply, done) => {
    if (lifeline.handleRequest(request.raw, reply.raw)) reply.hijack();
    else done();
  });

  lifeline.attach(fastify.server); // every `upgrade` on Fastify's server goes through Lifeline's routes
  await fastify.listen({ port, host });
  return {
    lifeline,
    fastify,
    server: fastify.server,
    port: (fastify.server.address() as AddressInfo).port,
    async close() {
      await lifeline.shutdown(); // closes WebSockets with 1012; the server is Fastify's to close
      await fastify.close();
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const running = await start(Number(process.env.PORT ?? 3000));
  console.log(`Fastify on http://127.0.0.1:${running.port}/health, chat on ws://127.0.0.1:${running.port}/chat/lobby`);
  process.once('SIGINT', () => void running.close());
}
