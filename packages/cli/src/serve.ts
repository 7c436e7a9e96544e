import { createRedisBroker, createRedisSessionStore } from '@lifeline/redis';
import { createApp, type App } from '@lifeline/server';
import { addEchoRoute } from './routes/echo.js';
import { addResultsRoute } from './routes/results.js';
import { addSeedRoutes } from './routes/seed.js';
import { readTls, type ServeConfig } from './serve-options.js';
import { BUILT_APPS, mountBuiltApp } from './static-app.js';

/** The app that `lifeline serve` runs: the seed's routes, the echo endpoint, the demo page and its route, the console and the stats endpoint. */
export function createServeApp(config: ServeConfig): App {
  // With Redis, channels and Lifeline sessions are shared: a client resumes on any node.
  const redis = config.redisUrl === undefined ? undefined : { broker: createRedisBroker({ url: config.redisUrl }), sessionStore: createRedisSessionStore({ url: config.redisUrl }) };
  const app = createApp(redis === undefined ? config.app : { ...config.app, ...redis });
  addSeedRoutes(app);
  addEchoRoute(app);
  addResultsRoute(app);
  for (const name of BUILT_APPS) mountBuiltApp(app, name);
  app.statsEndpoint(config.adminToken === undefined ? {} : { token: config.adminToken });
  // For the console: why a WebSocket failed to open, which the browser will not say.
  app.handshakeCheckEndpoint(config.adminToken === undefined ? {} : { token: config.adminToken });
  app.healthEndpoints();
  app.metricsEndpoint(config.adminToken === undefined ? {} : { token: config.adminToken });
  if (config.apiKey !== undefined) app.publishEndpoint({ apiKey: config.apiKey });
  return app;
}

/**
 * Runs the server until SIGINT or SIGTERM, then shuts down gracefully and exits 0.
 * A second signal exits at once with status 1.
 */
export async function serve(config: ServeConfig): Promise<App> {
  const app = createServeApp(config);
  logUnexpectedErrors(app);
  const tls = readTls(config);
  const address = await app.listen(config.port, config.host, tls ? { tls } : {});
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const base = `${host}:${address.port}`;
  const http = tls ? 'https' : 'http';
  const ws = tls ? 'wss' : 'ws';
  process.stdout.write(
    `Lifeline listening on ${http}://${base}\n` +
      `  seed route  ${ws}://${base}/test   (answers like the seed's Flask server)\n` +
      `  echo        ${ws}://${base}/echo   (raw, or Lifeline mode with subprotocol lifeline.v1 / lifeline.v1.msgpack)\n` +
      `  results     ${ws}://${base}/results  (Lifeline mode: a pushed π estimate, requests, echo with a receive log)\n` +
      `  demo page   ${http}://${base}/demo/\n` +
      `  console     ${http}://${base}/console/   (a WebSocket test console for this or any server)\n` +
      (config.redisUrl === undefined ? '' : `  redis       channels and Lifeline sessions shared through Redis with every lifeline process using it\n`) +
      `  stats       ${http}://${base}/api/stats  (${config.adminToken === undefined ? 'loopback binds only without --admin-token' : 'needs the admin token'})\n` +
      `  handshake   POST ${http}://${base}/api/handshake-check  (the console's own pages; same access rule as stats)\n` +
      (config.apiKey === undefined ? '' : `  publish     POST ${http}://${base}/api/publish  (channels; needs the API key)\n`),
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
      // The app closes only a broker it made itself; the Redis broker and session store are ours to close.
      () => (app.sessionStore === undefined ? undefined : Promise.all([app.hub.broker.close(), app.sessionStore.close()])),
    ).then(
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

/**
 * Nothing a peer sends reaches an uncaught exception (docs/server.md, "When code throws"); if
 * a bug of ours or of a dependency does, it is logged as one JSON line with what the process
 * was doing (connections, sessions, the error's stack) before the process exits 1, so that
 * a supervisor restarts it from a known state.
 */
function logUnexpectedErrors(app: App): void {
  const report = (origin: 'uncaughtException' | 'unhandledRejection') => (error: unknown) => {
    app.logger.log('error', 'uncaught-exception', {
      origin,
      error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      connections: app.connectionCount,
      sessions: app.sessions.length,
      state: app.state,
    });
    process.exit(1);
  };
  process.on('uncaughtException', report('uncaughtException'));
  process.on('unhandledRejection', report('unhandledRejection'));
}
