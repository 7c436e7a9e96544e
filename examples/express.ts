// Lifeline's WebSocket side on an existing Express app. Run: npx tsx examples/express.ts
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import express from 'express';
import { createApp } from '@lifeline/server';

export async function start(port = 3000, host = '127.0.0.1') {
  const lifeline = createApp();
  lifeline.ws('/chat/:room', (socket) => {
    socket.on('message', (message) => socket.send(`[${socket.params.room}] ${message.text}`));
  });

  const web = express();
  web.get('/health', (_req, res) => {
    res.json({ ok: true });
  });
  web.use(lifeline.middleware()); // plain GET /chat/lobby -> 426 "connect to ws://..."; else next()

  const server = web.listen(port, host);
  lifeline.attach(server); // every `upgrade` on this server goes through Lifeline's routes
  await once(server, 'listening');
  return {
    lifeline,
    server,
    port: (server.address() as AddressInfo).port,
    async close() {
      await lifeline.shutdown(); // closes WebSockets with 1012; the server is Express's to close
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const running = await start(Number(process.env.PORT ?? 3000));
  console.log(`Express on http://127.0.0.1:${running.port}/health, chat on ws://127.0.0.1:${running.port}/chat/lobby`);
  process.once('SIGINT', () => void running.close());
}
