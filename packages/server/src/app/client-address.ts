import type { IncomingMessage } from 'node:http';
import { isIP, isIPv4 } from 'node:net';
import { LifelineError } from '@lifeline/protocol';
import type { PendingUpgrade } from '../transport/transport.js';

/**
 * Who a connection comes from, for `maxConnectionsPerIp`, and how many connections each
 * address holds (docs/server.md "Limits").
 */

/** `clientAddress` option: the client's address from the upgrade request, or undefined for the TCP peer's. */
export type ClientAddressFunction = (request: IncomingMessage) => string | undefined;

/** Validates `trustProxy`: `false`/0 (default) trusts no proxy, `true` one, a number that many hops. */
export function resolveTrustProxy(value: boolean | number | undefined): number {
  if (value === undefined || value === false) return 0;
  if (value === true) return 1;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new LifelineError(
      'LL_INVALID_OPTION',
      `Option trustProxy is ${JSON.stringify(value)}; expected true (one reverse proxy in front), false, or the number of proxies in front.`,
    );
  }
  return value;
}

/**
 * The client's address. With `trustProxy` = n > 0 it is taken from `X-Forwarded-For`: each
 * proxy appends the address it received the request from, so with n proxies of your own in
 * front the client is the n-th entry from the right (entries further left were written by
 * the client itself and prove nothing). Without the header, or without trust, it is the TCP
 * peer's address. A `clientAddress` function, when given, decides first.
 */
export function clientAddressOf(upgrade: PendingUpgrade, trustProxy: number, custom: ClientAddressFunction | undefined): string {
  const request = upgrade.request;
  if (custom !== undefined) {
    const chosen = custom(request);
    if (typeof chosen === 'string' && chosen !== '') return chosen;
  }
  const peer = upgrade.peerAddress;
  if (trustProxy === 0) return peer;
  const header = request.headers['x-forwarded-for'];
  if (header === undefined) return peer;
  const entries = (Array.isArray(header) ? header.join(',') : header)
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (entries.length === 0) return peer;
  const entry = entries[Math.max(0, entries.length - trustProxy)]!;
  return plainAddress(entry) ?? peer;
}

/** An address as a proxy may write it (`1.2.3.4`, `1.2.3.4:5678`, `[::1]:80`, `::1`) without the port; undefined if it is none. */
function plainAddress(entry: string): string | undefined {
  if (isIP(entry)) return entry;
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(entry);
  if (bracketed && isIP(bracketed[1]!)) return bracketed[1];
  const v4port = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(entry);
  if (v4port && isIPv4(v4port[1]!)) return v4port[1];
  return undefined;
}

/**
 * The key connections are counted under: IPv4 as is (an IPv4-mapped IPv6 address as its
 * IPv4 form); IPv6 by its /64 prefix, because one host or one home usually gets a whole /64
 * and could otherwise use a new address for every connection. Anything else as given.
 */
export function addressKey(address: string): string {
  if (address.startsWith('::ffff:') && isIPv4(address.slice(7))) return address.slice(7);
  if (!address.includes(':') || isIP(address) !== 6) return address;
  const zone = address.indexOf('%');
  const bare = zone === -1 ? address : address.slice(0, zone);
  const [head, tail] = bare.includes('::') ? bare.split('::') : [bare, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  // An embedded IPv4 tail (64:ff9b::1.2.3.4) fills two groups, in the lower 64 bits.
  const width = (groups: string[]) => groups.reduce((n, g) => n + (g.includes('.') ? 2 : 1), 0);
  const missing = 8 - width(left) - width(right);
  const groups = tail === undefined ? left : [...left, ...new Array<string>(Math.max(0, missing)).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => (parseInt(g, 16) || 0).toString(16))
    .join(':')}::/64`;
}

/**
 * Open connections per address key. A slot is taken when an upgrade passes the check and
 * given back when its connection (Node: the TCP socket) closes, whatever happens in between
 * (upgraded or refused later, raw or Lifeline, closed, terminated, cut off at shutdown), so
 * the count cannot leak. Each key's count is an object with its own give-back function,
 * which every connection under that key registers as its close listener: a connection
 * costs one Map lookup and no allocation, and nothing is stored on the connection (a
 * property on every net.Socket would give it a second shape and slow Node's own stream
 * code down for all of them). A key's entry goes once its count is back to 0; a later
 * connection from the address starts a new one.
 */
export class ConnectionsPerAddress {
  private readonly counts = new Map<string, AddressCount>();

  constructor(readonly max: number) {}

  /** Takes a slot for the upgrade's connection under `key`; false (nothing taken) when the key is at `max`. */
  tryTake(upgrade: PendingUpgrade, key: string): boolean {
    let entry = this.counts.get(key);
    if (entry !== undefined && entry.open >= this.max) return false;
    // A connection already gone will not be upgraded; counting it could miss its close.
    if (upgrade.gone) return true;
    if (entry === undefined) {
      entry = new AddressCount(key, this.counts);
      this.counts.set(key, entry);
    }
    entry.open++;
    upgrade.onConnectionClose(entry.giveBack);
    return true;
  }

  /** Open (or upgrading) connections under `key`. */
  count(key: string): number {
    return this.counts.get(key)?.open ?? 0;
  }

  /** Keys with at least one connection. */
  get size(): number {
    return this.counts.size;
  }
}

/** One address key's open connections, and the close listener each of them registers. */
class AddressCount {
  open = 0;
  readonly giveBack: () => void;

  constructor(key: string, counts: Map<string, AddressCount>) {
    this.giveBack = () => {
      if (--this.open === 0) counts.delete(key);
    };
  }
}
