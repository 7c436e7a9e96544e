import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { LifelineError } from '@lifeline/protocol';
import type { ClaimRequest, ClaimResult, JournalBatch, NewSessionInit, SessionEndReason, SessionJournal, SharedSessionStore } from '@lifeline/server';
import { gateFor, openConnections, positive, probeConnections, quit, type RedisConnection, type RedisConnectionOptions } from './connections.js';
import { type Gate, unavailable } from './gate.js';
import { SESSION_APPEND_LUA, SESSION_CLAIM_LUA, SESSION_END_LUA, SESSION_RELEASE_LUA } from './session-scripts.js';

/** The connection options are the broker's (connections.ts); the keys of both do not collide under one prefix. */
export interface RedisSessionStoreOptions extends RedisConnectionOptions {
  /** This process's name in the store. Default: random. */
  nodeId?: string;
  /** How long a session that cannot store its progress keeps trying before it ends here (close 1011), in ms. Default 10,000. */
  unreachableTimeout?: number;
  /** How long an ended session is remembered, so that a late resume is told `expired` or `overflow`, in ms. Default 600,000. */
  rememberEnded?: number;
  /**
   * How long a claim waits for the node that holds the session to store what it holds and
   * release it, before taking it anyway, in ms. Default 2,000.
   */
  handoverTimeout?: number;
}

export const REDIS_SESSION_STORE_DEFAULTS = {
  unreachableTimeout: 10_000,
  rememberEnded: 600_000,
  handoverTimeout: 2_000,
} as const;

/** Between two claim attempts while the owner releases the session, in ms. */
const CLAIM_RETRY_MS = 5;
/**
 * For this long after the commands connection came back, a claim that finds no entry waits
 * (up to `handoverTimeout`, asking every 20 ms) for the node that holds the session to store
 * it again: Redis may have restarted empty, and every node restores its sessions once its
 * own connection is back, which may be a little later than this one's.
 */
const RECOVERY_MS = 10_000;
const MISSING_RETRY_MS = 20;
/** An end that could not be stored is tried again: 50 ms, doubling to 1 s. */
const END_RETRY_MIN_MS = 50;
const END_RETRY_MAX_MS = 1_000;

interface SessionScripts {
  lifelineSessionAppend(meta: string, frames: string, ended: string, ...args: (string | number | Uint8Array)[]): Promise<'ok' | 'moved' | 'lost'>;
  lifelineSessionClaimBuffer(meta: string, frames: string, ended: string, ...args: (string | number | Buffer)[]): Promise<[Buffer, ...unknown[]]>;
  lifelineSessionEnd(meta: string, frames: string, ended: string, ...args: (string | number)[]): Promise<number>;
  lifelineSessionRelease(meta: string, ...args: (string | number)[]): Promise<number>;
}

export interface RedisSessionStoreEvents {
  /** A connection problem; emitted only when someone listens. */
  error: [error: Error];
}

/**
 * Lifeline sessions in Redis (docs/redis.md, "Sessions on many nodes"), so that a client
 * resumes on whichever node it reaches: `createApp({ sessionStore: createRedisSessionStore() })`.
 * Each node keeps its sessions in memory and journals them here (session-durability.ts in
 * @lifeline/server); a node that receives a hello for a session it does not hold claims it.
 */
export class RedisSessionStore extends EventEmitter<RedisSessionStoreEvents> implements SharedSessionStore {
  readonly nodeId: string;
  readonly unreachableTimeout: number;
  readonly commands: RedisConnection;
  readonly subscriber: RedisConnection;
  private readonly prefix: string;
  private readonly rememberEnded: number;
  private readonly handoverTimeout: number;
  private readonly scripts: SessionScripts;
  private readonly gate: Gate;
  private readonly claimedListeners: ((sessionId: string, kind: 'release' | 'moved', attach: number | undefined) => void)[] = [];
  /** Ends not stored yet (Redis unreachable), by session: tried again until they are, or until the entry would have expired. */
  private readonly pendingEnds = new Map<string, () => void>();
  private readonly pingTimer: NodeJS.Timeout | undefined;
  private readonly reconnectListeners: (() => void)[] = [];
  private connectedBefore = false;
  /** When the commands connection last came back after a drop (0: never). */
  private reconnectedAt = 0;
  private subscribed = false;
  private closed = false;

  constructor(options: RedisSessionStoreOptions = {}) {
    super();
    const { prefix, commandTimeout, pingInterval, queue, commands, subscriber } = openConnections(options);
    this.prefix = prefix;
    this.nodeId = options.nodeId ?? randomBytes(9).toString('base64url');
    if (!/^[\w.:-]{1,64}$/.test(this.nodeId)) {
      throw new LifelineError('LL_INVALID_OPTION', `@lifeline/redis option nodeId is ${JSON.stringify(this.nodeId)}; expected 1–64 letters, digits, and . _ : -`);
    }
    this.unreachableTimeout = positive('unreachableTimeout', options.unreachableTimeout, REDIS_SESSION_STORE_DEFAULTS.unreachableTimeout);
    this.rememberEnded = positive('rememberEnded', options.rememberEnded, REDIS_SESSION_STORE_DEFAULTS.rememberEnded);
    this.handoverTimeout = positive('handoverTimeout', options.handoverTimeout, REDIS_SESSION_STORE_DEFAULTS.handoverTimeout, 0);
    this.commands = commands;
    this.subscriber = subscriber;
    this.commands.defineCommand('lifelineSessionAppend', { numberOfKeys: 3, lua: SESSION_APPEND_LUA });
    this.commands.defineCommand('lifelineSessionClaim', { numberOfKeys: 3, lua: SESSION_CLAIM_LUA });
    this.commands.defineCommand('lifelineSessionEnd', { numberOfKeys: 3, lua: SESSION_END_LUA });
    this.commands.defineCommand('lifelineSessionRelease', { numberOfKeys: 1, lua: SESSION_RELEASE_LUA });
    this.scripts = this.commands as unknown as SessionScripts;
    this.gate = gateFor(commands, queue, 'Redis (session store)');
    this.commands.on('ready', () => {
      this.gate.open();
      if (this.connectedBefore) {
        this.reconnectedAt = Date.now();
        for (const listener of this.reconnectListeners) listener();
      }
      this.connectedBefore = true;
    });
    this.commands.on('error', (error: Error) => this.report(error));
    this.subscriber.on('error', (error: Error) => this.report(error));
    this.subscriber.on('close', () => {
      this.subscribed = false;
    });
    // Subscribed again after every reconnect (autoResubscribe is off, as for the broker).
    this.subscriber.on('ready', () => {
      this.subscriber.subscribe(this.nodeChannel(this.nodeId)).then(
        () => {
          this.subscribed = true;
        },
        (error: Error) => this.report(error),
      );
    });
    this.pingTimer = probeConnections([commands, subscriber], pingInterval, commandTimeout, () => this.closed, (error) => this.report(error));
    // `release <sid> <attach>` or `moved <sid>` (session-scripts.ts).
    this.subscriber.on('message', (_channel: string, message: string) => {
      const [kind, sid, attach] = message.split(' ');
      if ((kind !== 'release' && kind !== 'moved') || sid === undefined) return;
      for (const listener of this.claimedListeners) listener(sid, kind, attach === undefined ? undefined : Number(attach));
    });
  }

  /** Both connections are up: what readiness asks. */
  available(): boolean {
    return !this.closed && this.commands.status === 'ready' && this.subscribed;
  }

  /** Resolves once the commands connection is ready (or rejects LL_UNAVAILABLE after `offlineQueue.timeout`). */
  ready(): Promise<void> {
    return this.gate.pass(() => Promise.resolve());
  }

  /** Nodes other than this one listening on their node channel (PUBSUB CHANNELS: on a Cluster, those of one shard). */
  async otherNodes(): Promise<number> {
    const channels = await this.run('node count', this.nodeId, () => this.commands.pubsub('CHANNELS', `${this.nodeChannel('')}*`) as Promise<string[]>);
    return channels.filter((channel) => channel !== this.nodeChannel(this.nodeId)).length;
  }

  onReconnect(listener: () => void): void {
    this.reconnectListeners.push(listener);
  }

  onClaimed(listener: (sessionId: string, kind: 'release' | 'moved', attach: number | undefined) => void): void {
    this.claimedListeners.push(listener);
  }

  async releaseOrphan(sessionId: string): Promise<void> {
    // A session that ended here but whose end is not stored yet: store it now, so that the claim hears how it ended.
    const endNow = this.pendingEnds.get(sessionId);
    if (endNow !== undefined) {
      endNow();
      return;
    }
    const [meta] = this.keys(sessionId);
    await this.run('release', sessionId, () => this.scripts.lifelineSessionRelease(meta, '', this.nodeId));
  }

  create(init: NewSessionInit): SessionJournal {
    return new RedisJournal(this, init, 1, 1);
  }

  async claim(sessionId: string, tokenDigest: Buffer, route: string, protocol: string, ttl: number, request: ClaimRequest): Promise<ClaimResult> {
    const [meta, frames, ended] = this.keys(sessionId);
    const holding = request.holding instanceof RedisJournal ? request.holding : undefined;
    // Asking the owner to let go starts from the attach read first (the pin), and only for it:
    // a step that reaches Redis late can never take the session from a connection attached since.
    let pin = '';
    let forceAt = Infinity;
    let missingSince = 0;
    let reply: [Buffer, ...unknown[]];
    for (;;) {
      if (request.abandoned?.() === true) return { outcome: 'abandoned' };
      const force = Date.now() >= forceAt ? '1' : '0';
      reply = await this.run('claim', sessionId, () =>
        this.scripts.lifelineSessionClaimBuffer(
          meta,
          frames,
          ended,
          tokenDigest.toString('hex'),
          route,
          protocol,
          this.nodeId,
          ttlOf(ttl),
          this.nodeChannel(''),
          sessionId,
          force,
          request.rx,
          pin,
          holding === undefined ? '' : holding.generation,
        ),
      );
      const step = reply[0].toString();
      if (step === 'pin') {
        const attach = String(reply[1]);
        // While the owner releases the session, ask again; past the hand-over timeout, take it.
        if (attach !== pin) forceAt = Date.now() + this.handoverTimeout;
        pin = attach;
        continue;
      }
      if (step === 'missing') {
        const now = Date.now();
        missingSince ||= now;
        if (now - this.reconnectedAt > RECOVERY_MS || now - missingSince >= this.handoverTimeout) return { outcome: 'reset', reason: 'unknown-session' };
        await new Promise((resolve) => setTimeout(resolve, MISSING_RETRY_MS));
        continue;
      }
      if (step !== 'wait') break;
      await new Promise((resolve) => setTimeout(resolve, CLAIM_RETRY_MS));
    }
    const outcome = reply[0].toString();
    if (outcome === 'reset') return { outcome, reason: (reply[1] as Buffer).toString() as 'unknown-session' | 'bad-token' | SessionEndReason };
    if (outcome === 'protocol') return { outcome, protocol: (reply[1] as Buffer).toString() };
    if (outcome === 'rx-low' || outcome === 'rx-high') return { outcome: 'rx', below: outcome === 'rx-low' };
    if (outcome === 'lost') return { outcome };
    if (outcome === 'kept') {
      holding!.attach = Number(reply[1]);
      return { outcome };
    }
    const [, generation, rx, acked, attach, stored] = reply as [Buffer, number, Buffer, Buffer, number, Buffer[]];
    return {
      outcome: 'claimed',
      snapshot: { rx: Number(rx.toString()), acked: Number(acked.toString()), frames: stored },
      journal: new RedisJournal(this, { sessionId, tokenDigest, route, protocol, ttl }, Number(generation), Number(attach)),
    };
  }

  async keepAlive(sessionIds: readonly string[], ttl: number): Promise<void> {
    const px = ttlOf(ttl);
    await this.run('keep alive', `${sessionIds.length} sessions`, () =>
      Promise.all(
        sessionIds.flatMap((sid) => {
          const [meta, frames] = this.keys(sid);
          return [this.commands.pexpire(meta, px), this.commands.pexpire(frames, px)];
        }),
      ),
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pingTimer);
    this.gate.close(unavailable('The Redis session store was closed.'));
    await Promise.all([quit(this.commands), quit(this.subscriber)]);
  }

  /** @internal */
  append(journal: RedisJournal, batch: JournalBatch, full: boolean): Promise<void> {
    const { init } = journal;
    const [meta, frames, ended] = this.keys(init.sessionId);
    const args: (string | number | Uint8Array)[] = [
      journal.generation,
      ttlOf(init.ttl),
      batch.rx,
      batch.acked,
      batch.firstSeq,
      full ? '1' : '0',
      this.nodeId,
      // What a full append (re)creates the entry with; a normal one ignores them.
      full ? init.tokenDigest.toString('hex') : '',
      full ? init.route : '',
      full ? init.protocol : '',
      journal.attach,
      // ioredis sends a Buffer as bytes but a plain Uint8Array (what the MessagePack encoder
      // returns) through String(): "132,161,…". A view, not a copy.
      ...batch.frames.map((frame) => (typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength))),
    ];
    return this.run('append', init.sessionId, () => this.scripts.lifelineSessionAppend(meta, frames, ended, ...args)).then((result) => {
      if (result === 'moved') throw new LifelineError('LL_SESSION_MOVED', `Session ${init.sessionId} is now held by another node.`);
      if (result === 'lost') throw new LifelineError('LL_SESSION_LOST', `Redis no longer holds session ${init.sessionId}; it is stored again in full.`);
    });
  }

  /** @internal */
  async release(journal: RedisJournal): Promise<void> {
    const [meta] = this.keys(journal.init.sessionId);
    await this.run('release', journal.init.sessionId, () => this.scripts.lifelineSessionRelease(meta, journal.generation, this.nodeId));
  }

  /**
   * @internal Forgets the session and remembers why (`rememberEnded`). While Redis cannot be
   * reached the end is tried again (50 ms doubling to 1 s), and at once when another node asks
   * for the session, until it is stored or the entry would have expired anyway: otherwise a
   * late resume elsewhere would find the session still there and continue it.
   */
  end(journal: RedisJournal, why: SessionEndReason | undefined): Promise<void> {
    const sessionId = journal.init.sessionId;
    const [meta, frames, ended] = this.keys(sessionId);
    const giveUpAt = Date.now() + ttlOf(journal.init.ttl);
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      let running = false;
      let delay = END_RETRY_MIN_MS;
      const attempt = () => {
        clearTimeout(timer);
        if (running) return;
        running = true;
        this.run('end', sessionId, () => this.scripts.lifelineSessionEnd(meta, frames, ended, journal.generation, why ?? 'closed', this.rememberEnded)).then(
          () => {
            this.pendingEnds.delete(sessionId);
            resolve();
          },
          (error: LifelineError) => {
            running = false;
            this.report(new Error(`Session store end (${sessionId}) failed: ${error.message}`));
            if (this.closed || Date.now() + delay >= giveUpAt) {
              this.pendingEnds.delete(sessionId);
              reject(error);
              return;
            }
            timer = setTimeout(attempt, delay);
            timer.unref();
            delay = Math.min(END_RETRY_MAX_MS, delay * 2);
          },
        );
      };
      this.pendingEnds.set(sessionId, attempt);
      attempt();
    });
  }

  private run<T>(what: string, subject: string, operation: () => Promise<T>): Promise<T> {
    return this.gate.pass(operation).catch((error: unknown) => {
      if (error instanceof LifelineError) throw error;
      throw unavailable(`Session store ${what} (${subject}) failed: ${(error as Error).message}`, error);
    });
  }

  private keys(sessionId: string): [string, string, string] {
    const meta = `${this.prefix}session:{${sessionId}}`;
    return [meta, `${meta}:f`, `${meta}:e`];
  }

  private nodeChannel(nodeId: string): string {
    return `${this.prefix}node:${nodeId}`;
  }

  private report(error: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }
}

/** One session's journal on this node. Only the node with the current generation may write. */
class RedisJournal implements SessionJournal {
  constructor(
    private readonly store: RedisSessionStore,
    /** What a full append (re)creates the entry with; `ttl` is the session's resume window. */
    readonly init: NewSessionInit,
    readonly generation: number,
    /** The attach this node's copy is on (raised by the store when it confirms a resume here). */
    public attach: number,
  ) {}

  append(batch: JournalBatch, full: boolean): Promise<void> {
    return this.store.append(this, batch, full);
  }

  end(why: SessionEndReason | undefined): Promise<void> {
    return this.store.end(this, why);
  }

  release(): Promise<void> {
    return this.store.release(this);
  }
}

/** Keys outlive a session's last write by its resume window, plus a margin for clocks and the keep-alive period. */
function ttlOf(resumeWindow: number): number {
  return Math.ceil(resumeWindow * 1.5) + 5_000;
}

/** The Redis session store; see RedisSessionStoreOptions for every option and its default. */
export function createRedisSessionStore(options: RedisSessionStoreOptions = {}): RedisSessionStore {
  return new RedisSessionStore(options);
}
