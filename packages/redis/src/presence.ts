/**
 * Presence across nodes (docs/redis.md "Presence across nodes"): this node's members of
 * each channel are written to Redis (a hash per channel, a lease per node refreshed by a
 * heartbeat, scripts.ts), their changes published once per channel per presence interval,
 * and other nodes' changes handed to the hub. A node that stops refreshing its leases (it
 * died) is removed by the next node that touches the channel, which announces that it has
 * nobody left: its members leave everywhere within a bound (presenceBound()).
 */
import type { PresenceEntry, PresenceEvent } from '@lifeline/server';
import { PresenceChanges } from '@lifeline/server';

/** What the presence side needs from the broker: its node id, its connections and scripts. */
export interface PresenceHost {
  readonly nodeId: string;
  /** How long a lease lasts without a heartbeat (ms); heartbeats go every third of it. */
  readonly ttl: number;
  /** How long a read waits for its marker to come back through pub/sub (ms). */
  readonly markerTimeout: number;
  /** The commands connection is ready: writes are sent now rather than queued. */
  ready(): boolean;
  /**
   * PRESENCE_LUA on the channel's keys (scripts.ts): `mode` r, d or t, `payload` its ARGV[6],
   * `joins` how many id/info pairs start `rest`. Resolves 1, or 0 when the lease was lost.
   */
  write(channel: string, mode: 'r' | 'd' | 't', payload: string, joins: number, rest: string[]): Promise<number>;
  /** PRESENCE_READ_LUA on the channel's keys: the flat field/value list of its hash. */
  read(channel: string, token: string): Promise<string[]>;
  report(error: Error): void;
}

/** This node's presence on one channel, as the broker keeps it to write and re-announce it. */
interface Own {
  readonly members: Map<string, PresenceEntry>;
  /** Changes not yet written. */
  readonly changes: PresenceChanges;
  /** Redis holds this node's members (as of the last write) under a live lease: changes can go as deltas. */
  announced: boolean;
  /** Redis may hold members of this node here: a replace is needed even to say "none". */
  stored: boolean;
  writing: boolean;
}

/** A channel whose presence the hub follows. */
interface Watch {
  /** A read in progress: what arrives meanwhile waits here, sorted by its marker. */
  hold: Hold | undefined;
  /** The last read failed or was cut short: the next heartbeat reads again. */
  stale: boolean;
}

interface Hold {
  readonly token: string;
  markerSeen: boolean;
  readonly after: PresenceEvent[];
  readonly marker: Promise<void>;
  resolve(): void;
}

export class RedisPresence {
  private handler: (event: PresenceEvent) => void = () => {};
  private readonly own = new Map<string, Own>();
  private readonly watched = new Map<string, Watch>();
  private readonly timer: NodeJS.Timeout;
  private tokens = 0;
  private closed = false;

  constructor(private readonly host: PresenceHost) {
    this.timer = setInterval(() => this.heartbeat(), Math.max(10, Math.floor(host.ttl / 3)));
    this.timer.unref();
  }

  onPresence(handler: (event: PresenceEvent) => void): void {
    this.handler = handler;
  }

  // ---- this node's members ----------------------------------------------------------------

  update(channel: string, join: readonly PresenceEntry[], leave: readonly string[]): void {
    if (this.closed) return;
    let own = this.own.get(channel);
    if (own === undefined) {
      own = { members: new Map(), changes: new PresenceChanges(), announced: false, stored: false, writing: false };
      this.own.set(channel, own);
    }
    for (const id of leave) {
      own.members.delete(id);
      own.changes.leave(id);
    }
    for (const member of join) {
      own.members.set(member.id, member);
      own.changes.join(member);
    }
    this.write(channel, own);
  }

  /**
   * Writes what Redis does not have yet: the changes as a delta while the lease is alive,
   * else the whole membership. One write per channel at a time; changes made meanwhile go
   * with the next. While Redis is unreachable nothing is queued: the commands connection's
   * comeback (resume) and the heartbeat write again.
   */
  private write(channel: string, own: Own): void {
    if (own.writing || this.closed || !this.host.ready()) return;
    const replace = !own.announced;
    if (!replace && own.changes.empty) return;
    const { join, leave } = own.changes.take();
    if (replace && own.members.size === 0 && !own.stored) {
      this.own.delete(channel);
      return;
    }
    const members = replace ? [...own.members.values()] : join;
    const rest: string[] = [];
    for (const m of members) rest.push(m.id, infoText(m.info));
    if (!replace) rest.push(...leave);
    const emptyAfter = own.members.size === 0;
    own.writing = true;
    own.stored = true;
    this.host.write(channel, replace ? 'r' : 'd', JSON.stringify(replace ? members : [join, leave]), members.length, rest).then(
      (ok) => {
        own.writing = false;
        if (ok === 1 && emptyAfter && own.changes.empty) {
          // Nobody here any more: Redis dropped this node's lease on the channel.
          own.announced = false;
          own.stored = false;
          if (this.own.get(channel) === own && own.members.size === 0) this.own.delete(channel);
          return;
        }
        own.announced = ok === 1 && !emptyAfter;
        this.write(channel, own);
      },
      (error: unknown) => {
        own.writing = false;
        // It may or may not have run: the next write replaces everything (resume, heartbeat).
        own.announced = false;
        this.host.report(new Error(`presence on channel ${channel} not written to Redis (written again when it answers): ${(error as Error).message}`, { cause: error }));
      },
    );
  }

  // ---- other nodes' members ---------------------------------------------------------------

  /** Starts following a channel: resolves once its first read was reported (or failed). */
  async watch(channel: string): Promise<void> {
    if (this.watched.has(channel)) return;
    const watch: Watch = { hold: undefined, stale: true };
    this.watched.set(channel, watch);
    await this.sync(channel, watch);
  }

  unwatch(channel: string): void {
    const watch = this.watched.get(channel);
    if (watch === undefined) return;
    this.watched.delete(channel);
    watch.hold?.resolve();
  }

  /**
   * Reads every node's members (a `sync` for the hub). The read publishes a marker through
   * pub/sub at the point it ran: changes that arrive before the marker are in the read,
   * those after it are newer and follow the `sync`. Never rejects.
   */
  private async sync(channel: string, watch: Watch): Promise<void> {
    let resolve!: () => void;
    const marker = new Promise<void>((r) => (resolve = r));
    const hold: Hold = { token: `${this.host.nodeId}.${(++this.tokens).toString(36)}`, markerSeen: false, after: [], marker, resolve };
    watch.hold?.resolve();
    watch.hold = hold;
    const current = () => this.watched.get(channel) === watch && watch.hold === hold;
    try {
      const fields = await this.host.read(channel, hold.token);
      if (!current()) return;
      if (!hold.markerSeen) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([marker, new Promise<void>((r) => (timer = setTimeout(r, this.host.markerTimeout)))]);
        clearTimeout(timer);
        if (!current()) return;
        if (!hold.markerSeen) throw new Error(`its marker did not come back through pub/sub within ${this.host.markerTimeout} ms`);
      }
      watch.hold = undefined;
      watch.stale = false;
      this.handler({ type: 'sync', channel, nodes: nodesOf(fields, this.host.nodeId) });
      for (const event of hold.after) this.handler(event);
    } catch (error) {
      if (!current()) return;
      watch.hold = undefined;
      watch.stale = true;
      this.host.report(new Error(`presence of channel ${channel} not read from Redis (read again at the next heartbeat): ${(error as Error).message}`, { cause: error }));
    }
  }

  /** Every node's members of a channel, one per id (`app.presence` for a channel this node does not follow). */
  async snapshot(channel: string): Promise<PresenceEntry[]> {
    const fields = await this.host.read(channel, '');
    const members = new Map<string, PresenceEntry>();
    for (const list of nodesOf(fields, '').values()) for (const m of list) if (!members.has(m.id)) members.set(m.id, m);
    return [...members.values()];
  }

  /** A pub/sub message that starts with `P `. */
  receive(message: Buffer): void {
    const text = message.toString('utf8');
    const a = text.indexOf(' ', 2);
    const b = text.indexOf(' ', a + 1);
    const c = text.indexOf(' ', b + 1);
    if (a < 0 || b < 0 || c < 0) return this.host.report(new Error('ignored a presence message without its four parts'));
    const channel = text.slice(2, a);
    const node = text.slice(a + 1, b);
    const kind = text.slice(b + 1, c);
    const payload = text.slice(c + 1);
    const watch = this.watched.get(channel);
    if (watch === undefined) return;
    if (kind === 'm') {
      if (watch.hold?.token === payload) {
        watch.hold.markerSeen = true;
        watch.hold.resolve();
      }
      return;
    }
    if (node === this.host.nodeId) return;
    let event: PresenceEvent;
    try {
      event = eventOf(channel, node, kind, payload);
    } catch (error) {
      return this.host.report(new Error(`ignored a presence message on ${channel}: ${(error as Error).message}`));
    }
    if (watch.hold !== undefined) {
      // Before the marker: already in the read. After it: newer than the read.
      if (watch.hold.markerSeen) watch.hold.after.push(event);
      return;
    }
    this.handler(event);
  }

  // ---- liveness ------------------------------------------------------------------------------

  /** The subscriber connection came back: what pub/sub carried meanwhile is lost, read every channel again. */
  resync(): void {
    for (const [channel, watch] of this.watched) void this.sync(channel, watch);
  }

  /** The commands connection is (again) ready: Redis may have lost or expired this node's entries, announce them all again. */
  resume(): void {
    for (const [channel, own] of this.own) {
      own.announced = false;
      this.write(channel, own);
    }
  }

  /**
   * Every third of the ttl: refresh this node's leases (a lease found gone means this node
   * was taken for dead, or Redis lost it: write everything again), sweep the channels it
   * follows without members of its own, write what failed, read what failed.
   */
  private heartbeat(): void {
    if (this.closed || !this.host.ready()) return;
    for (const [channel, own] of this.own) {
      if (own.writing) continue;
      if (!own.announced || !own.changes.empty) {
        this.write(channel, own);
        continue;
      }
      this.host.write(channel, 't', '1', 0, []).then(
        (ok) => {
          if (ok === 1 || this.own.get(channel) !== own) return;
          own.announced = false;
          this.write(channel, own);
        },
        (error: unknown) => this.host.report(new Error(`presence heartbeat on channel ${channel} failed: ${(error as Error).message}`, { cause: error })),
      );
    }
    for (const [channel, watch] of this.watched) {
      if (!this.own.get(channel)?.announced) {
        this.host.write(channel, 't', '0', 0, []).catch((error: unknown) => this.host.report(new Error(`presence sweep on channel ${channel} failed: ${(error as Error).message}`, { cause: error })));
      }
      if (watch.stale && watch.hold === undefined) void this.sync(channel, watch);
    }
  }

  /** Leaves every channel at once (a node shutting down), so that others need not wait for the leases to expire. */
  async close(timeout: number): Promise<void> {
    if (this.closed) return;
    clearInterval(this.timer);
    for (const watch of this.watched.values()) watch.hold?.resolve();
    this.watched.clear();
    const leaving: Promise<unknown>[] = [];
    if (this.host.ready()) {
      for (const [channel, own] of this.own) {
        if (!own.stored && own.members.size === 0) continue;
        leaving.push(this.host.write(channel, 'r', '[]', 0, []).catch(() => {}));
      }
    }
    this.closed = true;
    this.own.clear();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(leaving), new Promise<void>((r) => (timer = setTimeout(r, timeout)))]);
    clearTimeout(timer);
  }
}

function infoText(info: unknown): string {
  if (info === undefined) return '';
  return JSON.stringify(info) ?? '';
}

function member(id: string, info: string): PresenceEntry {
  return info === '' ? { id } : { id, info: JSON.parse(info) as unknown };
}

/** The hash's fields by node, without `except`'s (this node's own, which the hub knows first). */
function nodesOf(fields: string[], except: string): Map<string, PresenceEntry[]> {
  const nodes = new Map<string, PresenceEntry[]>();
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const field = fields[i]!;
    const space = field.indexOf(' ');
    if (space < 0) continue; // a node's count
    const node = field.slice(0, space);
    if (node === except) continue;
    let list = nodes.get(node);
    if (!list) nodes.set(node, (list = []));
    try {
      list.push(member(field.slice(space + 1), fields[i + 1]!));
    } catch {
      // info that is not JSON was not written by Lifeline: skip it
    }
  }
  return nodes;
}

function eventOf(channel: string, node: string, kind: string, payload: string): PresenceEvent {
  const parsed = JSON.parse(payload) as unknown;
  if (kind === 'r') {
    if (!Array.isArray(parsed)) throw new Error('r without a member list');
    return { type: 'update', channel, node, replace: true, join: parsed.filter(isEntry), leave: [] };
  }
  if (kind === 'd') {
    if (!Array.isArray(parsed) || !Array.isArray(parsed[0]) || !Array.isArray(parsed[1])) throw new Error('d without [joins, leaves]');
    const leave = (parsed[1] as unknown[]).filter((id): id is string => typeof id === 'string');
    return { type: 'update', channel, node, replace: false, join: (parsed[0] as unknown[]).filter(isEntry), leave };
  }
  throw new Error(`unknown kind ${kind}`);
}

function isEntry(value: unknown): value is PresenceEntry {
  return typeof value === 'object' && value !== null && typeof (value as { id?: unknown }).id === 'string';
}
