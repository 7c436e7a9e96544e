/**
 * The reserved requests of PROTOCOL.md §3.3 (`$subscribe`, `$unsubscribe`, `$publish`,
 * `$presence`), answered for a Lifeline session. Each returns the response outcome and,
 * for a subscription, the step that starts delivery once the response is written.
 */
import { isChannelName, isChannelPattern, isEpoch, type ResponseError } from '@lifeline/protocol';
import type { ChannelHub, Subscriber } from '../channels/hub.js';
import type { ChannelAction } from '../channels/names.js';
import type { Socket } from '../connection/socket.js';

export type ChannelOutcome = { d: unknown } | { e: ResponseError };

export interface ChannelRequestContext {
  readonly hub: ChannelHub;
  readonly socket: Socket & Subscriber;
  /** Most channels one connection may subscribe to (`maxChannels`). */
  readonly maxChannels: number;
}

/** The reserved requests answered here ($auth is the route's, §4.4). */
const CHANNEL_REQUESTS = new Set(['$subscribe', '$unsubscribe', '$publish', '$presence']);

const refuse = (code: string, message: string): { outcome: ChannelOutcome } => ({ outcome: { e: { code, message } } });

/** Answers one reserved request; `start` (for `$subscribe`) must run right after the response is written. */
export async function answerChannelRequest(
  context: ChannelRequestContext,
  name: string,
  data: unknown,
): Promise<{ outcome: ChannelOutcome; start?: () => void }> {
  const { hub, socket } = context;
  // The name first: an unknown reserved name is LL_NO_HANDLER whatever its d (PROTOCOL.md §3.3 R4).
  if (!CHANNEL_REQUESTS.has(name)) return refuse('LL_NO_HANDLER', `no handler for request "${name}": names starting with $ are reserved (PROTOCOL.md §3.3)`);
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return refuse('LL_INVALID_REQUEST', `${name}: d must be an object with ch`);
  const d = data as Record<string, unknown>;
  const ch = d.ch;
  if (!isChannelName(ch)) return refuse('LL_INVALID_CHANNEL', `${name}: ch is not a channel name (PROTOCOL.md §3.1)`);
  switch (name) {
    case '$subscribe': {
      const since = d.since;
      let position: { offset: number; epoch: string } | undefined;
      if (since !== undefined) {
        const s = since as Record<string, unknown> | null;
        if (typeof s !== 'object' || s === null || !Number.isSafeInteger(s.o) || (s.o as number) < 0 || !isEpoch(s.ep)) {
          return refuse('LL_INVALID_REQUEST', '$subscribe: since must be { o: integer >= 0, ep: epoch }');
        }
        if (!isChannelPattern(ch)) position = { offset: s.o as number, epoch: s.ep };
      }
      if (d.presence !== undefined && typeof d.presence !== 'boolean') return refuse('LL_INVALID_REQUEST', '$subscribe: presence must be a boolean');
      // Subscriptions still being authorised count too, or requests sent back to back
      // would all pass the check before any of them is on the channel.
      const pending = pendingSubscribes(socket);
      const current = new Set([...hub.channelsOf(socket), ...pending]);
      if (!current.has(ch) && current.size >= context.maxChannels) {
        return refuse('LL_TOO_MANY_CHANNELS', `$subscribe: at most ${context.maxChannels} channels per connection`);
      }
      pending.add(ch);
      let result;
      try {
        if (!(await allowed(context, ch, 'subscribe'))) return refuse('LL_FORBIDDEN', `$subscribe: not allowed on ${ch}`);
        if (d.presence === true && !(await allowed(context, ch, 'presence'))) return refuse('LL_FORBIDDEN', `$subscribe: presence not allowed on ${ch}`);
        result = await hub.subscribe(socket, ch, { ...(position ? { since: position } : {}), presence: d.presence === true });
      } finally {
        pending.delete(ch);
      }
      const answer: Record<string, unknown> = { ch, ep: result.position.epoch, o: result.position.offset };
      if (result.recovered !== undefined) answer.recovered = result.recovered;
      if (result.reset !== undefined) answer.reset = result.reset;
      return { outcome: { d: answer }, start: result.start };
    }
    case '$unsubscribe':
      hub.unsubscribe(socket, ch);
      return { outcome: { d: null } };
    case '$publish': {
      if (isChannelPattern(ch)) return refuse('LL_INVALID_CHANNEL', '$publish: cannot publish to a pattern');
      if (!('d' in d) || d.d === undefined) return refuse('LL_INVALID_REQUEST', '$publish: d.d (the data) is missing');
      if (!(await allowed(context, ch, 'publish'))) return refuse('LL_FORBIDDEN', `$publish: not allowed on ${ch}`);
      try {
        const position = await hub.publish(ch, { data: d.d });
        return { outcome: { d: { o: position.offset, ep: position.epoch } } };
      } catch (error) {
        // Refused before an offset (a value no format can carry), or the engine is unavailable.
        const code = (error as { code?: unknown }).code;
        return refuse(code === 'LL_UNAVAILABLE' || typeof code !== 'string' ? 'LL_UNAVAILABLE' : code, `$publish: ${(error as Error).message}`);
      }
    }
    case '$presence': {
      if (hub.options.get(ch).presence === false) return refuse('LL_FORBIDDEN', `$presence: presence is not enabled on ${ch}`);
      if (!(await allowed(context, ch, 'presence'))) return refuse('LL_FORBIDDEN', `$presence: not allowed on ${ch}`);
      try {
        const members = await hub.presenceOf(ch);
        return { outcome: { d: { members, count: members.length } } };
      } catch (error) {
        return refuse('LL_UNAVAILABLE', `$presence: ${(error as Error).message}`);
      }
    }
    default:
      throw new Error(`unreachable: ${name} is in CHANNEL_REQUESTS without a case`);
  }
}

const pendingByConnection = new WeakMap<Subscriber, Set<string>>();

function pendingSubscribes(subscriber: Subscriber): Set<string> {
  let pending = pendingByConnection.get(subscriber);
  if (!pending) pendingByConnection.set(subscriber, (pending = new Set()));
  return pending;
}

async function allowed(context: ChannelRequestContext, channel: string, action: ChannelAction): Promise<boolean> {
  const options = context.hub.options.get(channel);
  if (options.authorize) return (await options.authorize(context.socket, channel, action)) === true;
  if (action === 'publish') return options.clientPublish;
  if (action === 'presence') return options.presence !== false;
  return true;
}
