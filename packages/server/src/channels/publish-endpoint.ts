/**
 * `POST /api/publish` (PROTOCOL.md §3.5): one HTTP call publishes on a channel, so a backend
 * in any language (the seed's Python algorithms) can push to browsers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isChannelName, isChannelPattern, LifelineError, parseJsonWithin, type DecodeLimits } from '@lifeline/protocol';
import { bearerToken, sameSecret } from '../bearer.js';
import { readBody, replyJson as reply } from '../http-json.js';
import type { ChannelHub } from './hub.js';

export interface PublishEndpointOptions {
  /** The key every request must present as `Authorization: Bearer <key>`. Required. */
  apiKey: string;
  /** Where it listens. Default `/api/publish`. */
  path?: string;
}

export const DEFAULT_PUBLISH_PATH = '/api/publish';

/** The request handler; `maxBody` is the app's `maxPayload`, `limits` its structural bounds (for `data`). */
export function publishHandler(hub: ChannelHub, apiKey: string, maxBody: number, limits: DecodeLimits) {
  if (typeof apiKey !== 'string' || apiKey.length < 16) {
    throw new LifelineError('LL_INVALID_OPTION', 'publishEndpoint({ apiKey }): the API key must be a string of at least 16 characters.');
  }
  return async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const offered = bearerToken(request.headers.authorization);
    if (offered === undefined || !sameSecret(offered, apiKey)) {
      request.resume();
      return reply(response, 401, { code: 'LL_UNAUTHORIZED', message: offered === undefined ? 'Send the API key as "Authorization: Bearer <key>".' : 'The API key does not match.' }, { 'WWW-Authenticate': 'Bearer realm="lifeline"' });
    }
    const body = await readBody(request, maxBody);
    if (body === undefined) {
      reply(response, 413, { code: 'LL_TOO_LARGE', message: `The body is over ${maxBody} bytes (maxPayload).` }, { Connection: 'close' });
      request.destroy();
      return;
    }
    // The body is an object around `data`: `data` may nest as deep as any message.
    const parsed = parseJsonWithin(body.toString('utf8'), limits, 1);
    if (!parsed.ok) {
      if (parsed.problem !== undefined) return reply(response, 400, { code: parsed.problem.code, message: `The body ${parsed.problem.reason}.` });
      return reply(response, 400, { code: 'LL_INVALID_JSON', message: 'The body is not JSON; send {"channel": "...", "data": ...}.' });
    }
    const value = parsed.value;
    const { channel, data, key } = (typeof value === 'object' && value !== null && !Array.isArray(value) ? value : {}) as { channel?: unknown; data?: unknown; key?: unknown };
    if (!isChannelName(channel) || isChannelPattern(channel)) {
      return reply(response, 400, { code: 'LL_INVALID_CHANNEL', message: '"channel" must be a channel name (PROTOCOL.md §3.1), not a pattern.' });
    }
    if (data === undefined) return reply(response, 400, { code: 'LL_INVALID_REQUEST', message: '"data" is missing: any JSON value, null included.' });
    if (key !== undefined && typeof key !== 'string') return reply(response, 400, { code: 'LL_INVALID_REQUEST', message: '"key", when given, must be a string.' });
    try {
      const position = await hub.publish(channel, { data }, key);
      reply(response, 200, { channel, offset: position.offset, epoch: position.epoch });
    } catch (error) {
      const code = (error as LifelineError).code;
      if (code === 'LL_UNAVAILABLE') return reply(response, 503, { code, message: (error as Error).message }, { 'Retry-After': '1' });
      // Refused before it had an offset: a value no subscriber's format could carry.
      if (REFUSED.has(code)) return reply(response, 400, { code, message: (error as Error).message });
      reply(response, 500, { code: 'LL_INTERNAL', message: 'The publication failed.' });
    }
  };
}

const REFUSED = new Set<string>(['LL_ENCODE_FAILED', 'LL_TOO_DEEP', 'LL_TOO_MANY_ITEMS', 'LL_KEY_TOO_LONG', 'LL_FORBIDDEN_KEY', 'LL_LONE_SURROGATE']);
