/**
 * Channel names and positions (PROTOCOL.md §3), shared by the server, the client and the
 * engines, so that all of them accept exactly the same names.
 */

/** Longest channel name, in characters. */
export const MAX_CHANNEL_NAME_LENGTH = 255;

const NAME = /^[A-Za-z0-9_\-:.@/=+]{1,255}$/;
const EPOCH = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * A channel name or a pattern (`prices:*`): 1–255 characters of `A–Z a–z 0–9 _ - : . @ / = +`,
 * a pattern ending in `:*` and having no other `*`. Names starting with `$` are reserved,
 * and `$` is not in the alphabet, so they cannot pass.
 */
export function isChannelName(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  if (value.endsWith(':*')) return value.length > 2 && value.length <= MAX_CHANNEL_NAME_LENGTH && NAME.test(value.slice(0, -1));
  return NAME.test(value);
}

/** A pattern subscription (`prices:*`)? */
export function isChannelPattern(name: string): boolean {
  return name.endsWith(':*');
}

/**
 * The pattern a channel is delivered to: `prices:btc` → `prices:*`; `undefined` for a name
 * without `:`. A pattern matches the names one segment below its prefix, so this is the only
 * one, and matching costs one map lookup.
 */
export function patternOf(channel: string): string | undefined {
  const at = channel.lastIndexOf(':');
  return at < 0 ? undefined : `${channel.slice(0, at)}:*`;
}

/** A channel epoch: 1–64 base64url characters. */
export function isEpoch(value: unknown): value is string {
  return typeof value === 'string' && EPOCH.test(value);
}

/** Where a channel stands: its last offset (0 before the first publication) and its epoch. */
export interface ChannelPosition {
  readonly offset: number;
  readonly epoch: string;
}
