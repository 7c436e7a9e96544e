/**
 * Serves a built single-page app (a Vite `outDir`) under a URL prefix of a Lifeline app:
 * `lifeline serve` mounts apps/demo at `/demo/` with it (and apps/console at `/console/`).
 * Everything is served from the local directory, so the pages work offline.
 *
 * Deliberately small: GET and HEAD of files that exist, nothing listed, nothing written.
 */
import { createReadStream, readFileSync, type Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LifelineError, type App } from '@lifeline/server';

export interface StaticAppOptions {
  /** The URL prefix, without a trailing slash: `'/demo'`. The app is served at `/demo/`, and `/demo` redirects there. */
  prefix: string;
  /** The built app's directory (holds `index.html`). Looked at on every request, so building after start works. */
  dir: string;
  /** Said in the 503 answer when `dir` has no `index.html`: how to build it, e.g. `npm run build -w apps/demo`. */
  buildHint?: string;
  /**
   * Files (path relative to `dir`, `/`-separated) whose names carry a content hash, so
   * they never change under one URL and may be cached for a year. Default: everything
   * under `assets/`, where Vite puts its hashed output (`build.assetsDir`).
   */
  immutable?: (relativePath: string) => boolean;
}

/** Content types by extension; anything else is `application/octet-stream` (never sniffed: see nosniff). */
const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
  '.webmanifest': 'application/manifest+json',
};

const IMMUTABLE = 'public, max-age=31536000, immutable';
/** index.html names the hashed files of the current build: always revalidate it (the ETag makes that cheap). */
const REVALIDATE = 'no-cache';

const underAssets = (relativePath: string) => relativePath.startsWith('assets/');

/** The apps of this repository that `lifeline serve` serves, each at `/<name>/`, and the `lifeline` package ships. */
export const BUILT_APPS = ['demo', 'console'] as const;

/**
 * The directory of a built app (holds its `index.html`). The one place that knows where
 * built apps live, relative to this package's code (`src/` or `dist/`):
 * - in this repository, `apps/<name>/dist`, where Vite writes it (found as the sibling
 *   `apps/<name>` whose package.json is `@lifeline/<name>`);
 * - in the installed `lifeline` package, `pages/<name>`, copied there when the package is
 *   packed (packages/cli/scripts/pack-pages.mjs).
 */
export function builtAppDir(name: string): string {
  return isRepositoryApp(name) ? fileURLToPath(repositoryApp(name, 'dist')) : fileURLToPath(new URL(`../pages/${name}`, import.meta.url));
}

const repositoryApp = (name: string, file: string) => new URL(`../../../apps/${name}/${file}`, import.meta.url);

function isRepositoryApp(name: string): boolean {
  try {
    return (JSON.parse(readFileSync(repositoryApp(name, 'package.json'), 'utf8')) as { name?: unknown }).name === `@lifeline/${name}`;
  } catch {
    return false;
  }
}

/** `serveStaticApp` for a built app at `/<name>/` (see `builtAppDir`), with what to do when it is not built. */
export function mountBuiltApp(app: App, name: string): void {
  serveStaticApp(app, {
    prefix: `/${name}`,
    dir: builtAppDir(name),
    buildHint: isRepositoryApp(name)
      ? `npm run build (at the repository root; or just this app: npm run build -w apps/${name})`
      : `install the lifeline package again: it was packed without its pages (its prepack script copies them)`,
  });
}

/**
 * Adds GET/HEAD routes that serve the built app in `dir` under `prefix`:
 *
 * - `/demo` → 301 to `/demo/` (so the page's relative URLs resolve under the prefix);
 * - `/demo/` and `/demo/index.html` → `index.html`, `Cache-Control: no-cache`;
 * - `/demo/assets/…` → the file, cached for a year (`immutable`), other files `no-cache`;
 * - an ETag on every file; `If-None-Match` answers 304;
 * - a missing file, a directory, or a path that would leave `dir` (`..`, encoded or not;
 *   backslashes; NUL) → 404; `dir` without `index.html` → 503 saying how to build it.
 */
export function serveStaticApp(app: App, options: StaticAppOptions): void {
  const prefix = options.prefix;
  if (!/^\/[^?#]*[^/?#]$/.test(prefix) || prefix.includes('*') || prefix.split('/').some((s) => s.startsWith(':'))) {
    throw new LifelineError('LL_INVALID_OPTION', `serveStaticApp: prefix must look like "/demo" (a leading slash, no trailing slash, no "*" or ":param"); got "${prefix}".`);
  }
  const root = resolve(options.dir);
  const immutable = options.immutable ?? underAssets;
  const hint = options.buildHint ?? `build the app into ${root}`;

  // `${prefix}/*` also matches `${prefix}` and `${prefix}/` (the router ignores trailing
  // slashes), so one route covers the redirect, the index and the files.
  app.get(`${prefix}/*`, async (request, response, params) => {
    const rawPath = pathOf(request.url);
    if (rawPath === prefix) {
      const query = request.url!.slice(rawPath.length);
      response.writeHead(301, { Location: `${prefix}/${query}`, 'Content-Length': 0 });
      response.end();
      return;
    }
    // The router hands over the rest percent-decoded, so `%2e%2e%2f` is already `../` here.
    const relative = safeRelative(params['*'] ?? '');
    if (relative === undefined) return notFound(response, rawPath);
    const index = await statFile(resolve(root, 'index.html'));
    if (!index) {
      return sendText(response, 503, `${prefix}/ is not built: ${resolve(root, 'index.html')} does not exist. Run: ${hint}.`);
    }
    const target = relative === '' ? 'index.html' : relative;
    const file = resolve(root, ...target.split('/'));
    // resolve() has normalised the path: make sure it is still inside the app's directory.
    if (!file.startsWith(root + sep)) return notFound(response, rawPath);
    const stats = target === 'index.html' ? index : await statFile(file);
    if (!stats) return notFound(response, rawPath);
    sendFile(request, response, file, stats, immutable(target) ? IMMUTABLE : REVALIDATE);
  });
}

/**
 * The decoded rest of the path as `a/b.js`, or undefined when it cannot name a file inside
 * the app: `..` or `.` segments, backslashes (a separator on Windows), NUL, empty segments.
 */
function safeRelative(rest: string): string | undefined {
  if (rest === '') return '';
  const segments = rest.split('/');
  const bad = (s: string) => s === '' || s === '.' || s === '..' || s.includes('\\') || s.includes('\0');
  return segments.some(bad) ? undefined : segments.join('/');
}

async function statFile(path: string): Promise<Stats | undefined> {
  try {
    const stats = await stat(path);
    return stats.isFile() ? stats : undefined;
  } catch {
    return undefined;
  }
}

function sendFile(request: IncomingMessage, response: ServerResponse, file: string, stats: Stats, cacheControl: string): void {
  // Weak validator from size and mtime: a rebuild changes both (or at least the mtime).
  const etag = `W/"${stats.size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}"`;
  const headers = {
    'Content-Type': CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
    'Cache-Control': cacheControl,
    ETag: etag,
    'Last-Modified': stats.mtime.toUTCString(),
    'X-Content-Type-Options': 'nosniff',
  };
  if (request.headers['if-none-match']?.split(',').some((tag) => tag.trim() === etag)) {
    response.writeHead(304, headers);
    response.end();
    return;
  }
  response.writeHead(200, { ...headers, 'Content-Length': stats.size });
  if (request.method === 'HEAD') {
    response.end();
    return;
  }
  const stream = createReadStream(file);
  // The file vanished or failed mid-way (a rebuild): the length promised cannot be kept, so cut the connection.
  stream.on('error', () => response.destroy());
  stream.pipe(response);
}

function notFound(response: ServerResponse, path: string): void {
  sendText(response, 404, `Nothing at ${path}.`);
}

function sendText(response: ServerResponse, status: number, text: string): void {
  const body = `${text}\n`;
  response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  response.end(body);
}

function pathOf(url: string | undefined): string {
  const q = (url ?? '/').indexOf('?');
  return q === -1 ? (url ?? '/') : url!.slice(0, q);
}
