/**
 * When application code throws (docs/server.md "When code throws"): a route handler, a
 * socket's listener or an HTTP handler that throws or rejects is logged, and only its own
 * connection or request ends; nothing reaches an uncaught exception.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvalidMessageError } from '../connection/message.js';
import type { Socket } from '../connection/socket.js';
import { describeError, type Logger } from '../leaves/logger.js';
import { pathOf, sendText } from '../leaves/http.js';
import type { RouteParams } from '../leaves/router.js';

/** A route handler; if it returns a promise, a rejection closes the socket with 1011. */
export type WsHandler = (socket: Socket, request: IncomingMessage) => unknown;
export type HttpHandler = (request: IncomingMessage, response: ServerResponse, params: RouteParams) => unknown;

/** Runs a route's handler for a new connection (or session); the socket learns when it has settled. */
export function runWsHandler(logger: Logger, handler: WsHandler, socket: Socket, request: IncomingMessage): void {
  let result: unknown;
  try {
    result = handler(socket, request);
  } catch (error) {
    handlerFailed(logger, socket, error);
    return;
  }
  if (isPromiseLike(result)) {
    result.then(
      () => socket.handlerSettled(),
      (error: unknown) => handlerFailed(logger, socket, error),
    );
  } else {
    socket.handlerSettled();
  }
}

function handlerFailed(logger: Logger, socket: Socket, error: unknown): void {
  socket.handlerSettled();
  closeFor(logger, socket, 'handler-error', error);
}

/**
 * A handler or listener threw: logged, and its connection closes — 1007 with the reason
 * when `Message.json()` refused the peer's data, else 1011 `internal error`.
 */
export function closeFor(logger: Logger, socket: Socket, what: 'handler-error' | 'listener-error', error: unknown, event?: string): void {
  const peerData = error instanceof InvalidMessageError;
  if (peerData) {
    if (logger.enabled('info')) logger.log('info', what, { id: socket.id, route: socket.route, event, code: 1007, reason: error.reason });
  } else {
    logger.log('error', what, { id: socket.id, route: socket.route, event, sid: socket.sessionId, error: describeError(error) });
  }
  if (socket.isOpen) socket.close(peerData ? 1007 : 1011, peerData ? error.reason : 'internal error');
}

/** Runs an HTTP route's handler: a throw or a rejection answers 500 (or ends a response already begun). */
export function runHttpHandler(logger: Logger, handler: HttpHandler, request: IncomingMessage, response: ServerResponse, params: RouteParams): void {
  const fail = (error: unknown) => {
    logger.log('error', 'http-handler-error', { path: pathOf(request.url), error: describeError(error) });
    if (!response.headersSent) sendText(response, 500, 'Internal server error.');
    else response.destroy();
  };
  try {
    const result = handler(request, response, params);
    if (isPromiseLike(result)) result.then(undefined, fail);
  } catch (error) {
    fail(error);
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as PromiseLike<unknown>).then === 'function';
}
