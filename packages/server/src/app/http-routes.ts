/**
 * The app's few HTTP routes (its own pages and APIs: stats, metrics, health, publish), and
 * the answers to plain HTTP requests for its WebSocket routes (426, 405, 503) and for
 * nothing at all (404 naming the routes). Not a general HTTP framework.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LifelineError } from '@lifeline/protocol';
import { pathOf, sendText } from '../leaves/http.js';
import type { Logger } from '../leaves/logger.js';
import { RouteTable } from '../leaves/router.js';
import { runHttpHandler, type HttpHandler } from './handlers.js';

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';

export class HttpRoutes {
  private readonly table = new RouteTable<Map<string, HttpHandler>>();
  private readonly byPath = new Map<string, Map<string, HttpHandler>>();

  add(method: HttpMethod, path: string, handler: HttpHandler): void {
    let methods = this.byPath.get(path);
    if (!methods) {
      methods = new Map();
      this.table.add(path, methods);
      this.byPath.set(path, methods);
    }
    if (methods.has(method)) throw new LifelineError('LL_ROUTE_CONFLICT', `HTTP route ${method} ${path} is already taken.`);
    methods.set(method, handler);
    if (method === 'GET' && !methods.has('HEAD')) methods.set('HEAD', handler);
  }

  /** Paths in the order they were added, with their methods (stats). */
  get list(): { path: string; methods: string[] }[] {
    return [...this.byPath].map(([path, methods]) => ({ path, methods: [...methods.keys()] }));
  }

  get paths(): string[] {
    return this.table.paths;
  }

  /** Answers the request if one of the routes matches its path (405 for another method); false otherwise. */
  handle(logger: Logger, request: IncomingMessage, response: ServerResponse, pathname: string): boolean {
    const route = this.table.find(pathname);
    if (!route) return false;
    const handler = route.value.get(request.method ?? 'GET');
    if (!handler) {
      const allow = [...route.value.keys()].join(', ');
      sendText(response, 405, `${request.method} is not allowed on ${pathname}; use ${allow}.`, { Allow: allow });
      return true;
    }
    runHttpHandler(logger, handler, request, response, route.params);
    return true;
  }
}

/** A plain HTTP request for a WebSocket route: 503 while shutting down, 405 for a method other than GET, else 426 with a hint. */
export function answerWsPathOverHttp(request: IncomingMessage, response: ServerResponse, pathname: string, running: boolean): void {
  if (!running) {
    // After shutdown() the upgrade listener is gone and Node hands upgrades to the request handler.
    sendText(response, 503, 'The server is shutting down; retry shortly.', { 'Retry-After': '5' });
    return;
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    sendText(response, 405, `${pathname} is a WebSocket endpoint; open it with a GET upgrade request.`, { Allow: 'GET' });
    return;
  }
  const host = request.headers.host ?? 'localhost';
  sendText(
    response,
    426,
    `${pathname} is a WebSocket endpoint. Connect with a WebSocket client to ws://${host}${request.url ?? pathname} ` + `(wss:// behind TLS), not http://.`,
    { Upgrade: 'websocket', Connection: 'Upgrade' },
  );
}

/** 404 naming the routes there are. */
export function notFound(request: IncomingMessage, response: ServerResponse, http: readonly string[], ws: readonly string[]): void {
  sendText(
    response,
    404,
    `Nothing at ${pathOf(request.url)}.` + (http.length ? ` HTTP routes: ${http.join(', ')}.` : '') + (ws.length ? ` WebSocket routes: ${ws.join(', ')}.` : ''),
  );
}
