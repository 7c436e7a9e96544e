import { createApp, type App } from '@lifeline/server';
import { addEchoRoute } from './routes/echo.js';
import { addSeedRoutes } from './routes/seed.js';
import type { ServeConfig } from './serve-options.js';

/** The app that `lifeline serve` runs: the seed's routes and the echo endpoint. */
export function createServeApp(config: ServeConfig): App {
  const app = createApp(config.app);
  addSeedRoutes(app);
  addEchoRoute(app);
  return app;
}

/**
 * Runs the server until SIGINT or SIGTERM, then shuts down gracefully and exits 0.
 * A second signal exits at once with status 1.
 */
export async function serve(config: ServeConfig): Promise<App> {
  const app = createServeApp(config);
  const address = await app.listen(config.port, config.host);
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const base = `${host}:${address.port}`;
  process.stdout.write(
    `Lifeline listening on http://${base}\n` +
      `  seed route  ws://${base}/test   (answers like the seed's Flask server)\n` +
      `  echo        ws://${base}/echo   (raw, or Lifeline mode with subprotocol lifeline.v1 / lifeline.v1.msgpack)\n`,
  );
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`lifeline: ${signal} again, exiting without waiting\n`);
      process.exit(1);
    }
    stopping = true;
    process.stderr.write(`lifeline: ${signal}, closing ${app.connections.size} connection(s)\n`);
    app.shutdown().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`lifeline: shutdown failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return app;
}
