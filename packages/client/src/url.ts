import { LifelineError } from '@lifeline/protocol';

const SCHEMES: Record<string, string> = { 'ws:': 'ws:', 'wss:': 'wss:', 'http:': 'ws:', 'https:': 'wss:' };

/**
 * A WebSocket URL from what a person wrote: `ws://` and `wss://` as they are, `http://` and
 * `https://` mapped to them, relative paths resolved against the page in browsers.
 * Anything else throws `LL_INVALID_URL` with the URL to write instead.
 */
export function toWebSocketUrl(input: string | { href: string }): string {
  const text = typeof input === 'string' ? input : input.href;
  let url: URL;
  try {
    url = new URL(text, (globalThis as { location?: { href: string } }).location?.href);
  } catch {
    throw new LifelineError('LL_INVALID_URL', `"${text}" is not a URL; write e.g. ws://${text && !text.includes('://') ? text : 'host:port/path'}.`);
  }
  const scheme = SCHEMES[url.protocol];
  if (!scheme) {
    throw new LifelineError(
      'LL_INVALID_URL',
      text.includes('//')
        ? `"${text}" has the scheme ${url.protocol}; use ws://, wss://, http:// or https://.`
        : `"${text}" has no ws:// or wss:// in front; write ws://${text}.`,
    );
  }
  if (url.hash) throw new LifelineError('LL_INVALID_URL', `"${text}": a WebSocket URL cannot have a fragment (${url.hash}).`);
  url.protocol = scheme;
  return url.href;
}
