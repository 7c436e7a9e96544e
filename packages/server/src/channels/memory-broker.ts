import { randomBytes } from 'node:crypto';
import type { ChannelPosition } from '@lifeline/protocol';
import { patternOf } from '@lifeline/protocol';
import type { Broker, HistoryResult, Publication, PublicationPayload, PublishOptions } from './broker.js';

interface ChannelLog {
  epoch: string;
  offset: number;
  /** The history ttl the channel was last published with: what the sweep trims by. */
  ttl: number;
  /** Kept publications, oldest first, with when they were published. */
  kept: { publication: Publication; at: number }[];
}

/** How often expired history is trimmed and idle channels forgotten, in ms. */
const SWEEP_MS = 10_000;

/**
 * The default broker: one process, everything in memory. Offsets and history live as long
 * as the process and the channel: a channel with no history left and no subscriber is
 * forgotten, and when it is used again it starts a new epoch, so a client holding an old
 * position is told `reset: epoch` rather than given offsets that mean something else.
 * Delivery is synchronous: `publish()` has fanned out by the time it returns.
 */
export class MemoryBroker implements Broker {
  private handler: (publication: Publication) => void = () => {};
  private readonly logs = new Map<string, ChannelLog>();
  private readonly subscribed = new Set<string>();
  /** Epochs are this process's prefix and a counter: unique across restarts and re-creations. */
  private readonly prefix = randomBytes(6).toString('base64url');
  private nextEpoch = 1;
  /** Trims expired history and forgets idle channels now and then, so memory follows the ttl without a publication. */
  private readonly sweepTimer = setInterval(() => this.sweep(), SWEEP_MS).unref();

  onPublication(handler: (publication: Publication) => void): void {
    this.handler = handler;
  }

  publish(channel: string, payload: PublicationPayload, options: PublishOptions): Promise<ChannelPosition> {
    const log = this.log(channel);
    const now = Date.now();
    log.offset++;
    const publication: Publication = { ...payload, channel, offset: log.offset, epoch: log.epoch, ...(options.key === undefined ? {} : { key: options.key }) };
    const { size, ttl } = options.history;
    log.ttl = ttl;
    if (size > 0) {
      log.kept.push({ publication, at: now });
      trim(log, size, ttl, now);
    }
    const pattern = patternOf(channel);
    if (this.subscribed.has(channel) || (pattern !== undefined && this.subscribed.has(pattern))) this.handler(publication);
    this.forgetIfUnused(channel, log);
    return Promise.resolve({ offset: log.offset, epoch: log.epoch });
  }

  subscribe(channel: string): Promise<void> {
    this.subscribed.add(channel);
    return Promise.resolve();
  }

  unsubscribe(channel: string): Promise<void> {
    this.subscribed.delete(channel);
    const log = this.logs.get(channel);
    if (log) this.forgetIfUnused(channel, log);
    return Promise.resolve();
  }

  position(channel: string): Promise<ChannelPosition> {
    const log = this.log(channel);
    return Promise.resolve({ offset: log.offset, epoch: log.epoch });
  }

  history(channel: string, since: number, epoch: string): Promise<HistoryResult> {
    const log = this.log(channel);
    const position = { offset: log.offset, epoch: log.epoch };
    // Expired entries are trimmed lazily: do it now, so that "complete" never counts one.
    trim(log, Infinity, log.ttl, Date.now());
    this.forgetIfUnused(channel, log);
    if (epoch !== log.epoch || since > log.offset) return Promise.resolve({ complete: false, position, reason: 'epoch' });
    if (since === log.offset) return Promise.resolve({ complete: true, position, publications: [] });
    const kept = log.kept;
    const oldest = kept[0]?.publication.offset;
    if (oldest === undefined || oldest > since + 1) return Promise.resolve({ complete: false, position, reason: 'too-old' });
    const publications = kept.slice(since + 1 - oldest).map((entry) => entry.publication);
    return Promise.resolve({ complete: true, position, publications });
  }

  close(): Promise<void> {
    clearInterval(this.sweepTimer);
    this.logs.clear();
    this.subscribed.clear();
    return Promise.resolve();
  }

  private sweep(now = Date.now()): void {
    for (const [channel, log] of this.logs) {
      trim(log, Infinity, log.ttl, now);
      this.forgetIfUnused(channel, log);
    }
  }

  private log(channel: string): ChannelLog {
    let log = this.logs.get(channel);
    if (log === undefined) {
      log = { epoch: `${this.prefix}${(this.nextEpoch++).toString(36)}`, offset: 0, ttl: Infinity, kept: [] };
      this.logs.set(channel, log);
    }
    return log;
  }

  private forgetIfUnused(channel: string, log: ChannelLog): void {
    if (log.kept.length === 0 && !this.subscribed.has(channel)) this.logs.delete(channel);
  }
}

function trim(log: ChannelLog, size: number, ttl: number, now: number): void {
  const kept = log.kept;
  let drop = Math.max(0, kept.length - size);
  while (drop < kept.length && now - kept[drop]!.at > ttl) drop++;
  if (drop > 0) kept.splice(0, drop);
}
