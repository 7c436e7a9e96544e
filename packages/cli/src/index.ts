export { createServeApp, serve } from './serve.js';
export { defaultServeConfig, resolveServeConfig, SERVE_OPTIONS, type ServeConfig } from './serve-options.js';
export { addEchoRoute } from './routes/echo.js';
export { addSeedRoutes, SEED_MARKER } from './routes/seed.js';
export { addResultsRoute, type ResultsRouteOptions } from './routes/results.js';
export { BUILT_APPS, builtAppDir, mountBuiltApp, serveStaticApp, type StaticAppOptions } from './static-app.js';
