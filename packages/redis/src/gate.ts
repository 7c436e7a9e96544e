/**
 * The bounded wait in front of a Redis connection. While the connection is not ready
 * (connecting, reconnecting after Redis went away), operations wait here, in order, up to
 * `maxQueued` of them and for at most `timeout` ms each; past either bound they reject with
 * LifelineError `LL_UNAVAILABLE`. Nothing that waits here has been sent, so a rejection
 * from the queue means "not done", never "maybe done".
 *
 * ioredis's own offline queue is turned off (enableOfflineQueue: false): it is bounded only
 * by reconnect attempts, so how long a publish could hang would depend on the retry
 * strategy, and it has no size bound.
 */
import { LifelineError } from '@lifeline/protocol';

interface Waiting {
  readonly run: () => void;
  readonly fail: (error: Error) => void;
  readonly deadline: number;
}

export interface GateOptions {
  readonly maxQueued: number;
  readonly timeout: number;
  /** Names the connection in error messages ("Redis commands connection"). */
  readonly what: string;
  /** An error that proves the operation was not sent (the connection went between the check and the send): it waits again instead. */
  readonly notSent?: (error: unknown) => boolean;
}

export class Gate {
  private readonly waiting: Waiting[] = [];
  private timer: NodeJS.Timeout | undefined;
  private closedWith: Error | undefined;

  constructor(
    private readonly options: GateOptions,
    private readonly isReady: () => boolean,
  ) {}

  /** Runs `operation` now if the connection is ready, else when it is (within the bounds). */
  pass<T>(operation: () => Promise<T>, deadline = Date.now() + this.options.timeout): Promise<T> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    if (this.isReady() && this.waiting.length === 0) return this.attempt(operation, deadline);
    if (this.waiting.length >= this.options.maxQueued) {
      return Promise.reject(
        unavailable(`${this.options.what} is not connected and ${this.options.maxQueued} operations already wait for it (offlineQueue.maxQueued); not sent.`),
      );
    }
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({ run: () => this.attempt(operation, deadline).then(resolve, reject), fail: reject, deadline });
      this.arm();
    });
  }

  /** Runs it; if it provably did not leave (a connection that just went), it waits again, within the same deadline. */
  private attempt<T>(operation: () => Promise<T>, deadline: number): Promise<T> {
    const notSent = this.options.notSent;
    if (notSent === undefined) return operation();
    return operation().catch(async (error: unknown) => {
      if (!notSent(error) || Date.now() >= deadline) throw error;
      // A pause, not a loop: until ioredis handles the close, it may look ready a little longer.
      await new Promise((resolve) => setTimeout(resolve, 10));
      return this.pass(operation, deadline);
    });
  }

  /** The connection is ready: everything waiting goes, in order. */
  open(): void {
    const waiting = this.waiting.splice(0);
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const w of waiting) w.run();
  }

  /** Rejects everything waiting, and everything after, with `error`. */
  close(error: Error): void {
    this.closedWith = error;
    clearTimeout(this.timer);
    for (const w of this.waiting.splice(0)) w.fail(error);
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** One timer for the whole queue: the oldest entry's deadline (entries are in deadline order). */
  private arm(): void {
    if (this.timer !== undefined || this.waiting.length === 0) return;
    const delay = Math.max(0, this.waiting[0]!.deadline - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const now = Date.now();
      let expired = 0;
      while (expired < this.waiting.length && this.waiting[expired]!.deadline <= now) expired++;
      const error = unavailable(`${this.options.what} has not been reachable for ${this.options.timeout} ms (offlineQueue.timeout); not sent.`);
      for (const w of this.waiting.splice(0, expired)) w.fail(error);
      this.arm();
    }, delay);
    this.timer.unref();
  }
}

export function unavailable(message: string, cause?: unknown): LifelineError {
  return new LifelineError('LL_UNAVAILABLE', message, cause === undefined ? undefined : { cause });
}
