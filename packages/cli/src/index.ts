export { createServeApp, serve } from './serve.js';
export { defaultServeConfig, resolveServeConfig, SERVE_OPTIONS, type ServeConfig } from './serve-options.js';
export { addEchoRoute } from './routes/echo.js';
export { addSeedRoutes, SEED_MARKER } from './routes/seed.js';
