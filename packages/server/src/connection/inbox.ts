/**
 * Between the transport and the handler: how far a handler may fall behind before the
 * connection stops reading from its peer, and the queue of one `for await` loop. The held
 * queue (messages that arrive before the handler listens) is the Socket's own (socket.ts).
 */
import type { Message } from './message.js';

/** Pause reading from the peer when this much waits for the handler; read again below half of it. */
export const READ_HIGH_WATER_BYTES = 1024 * 1024;
export const READ_HIGH_WATER_COUNT = 1024;
/**
 * On a transport that cannot pause reading (capability `pauseReading`), a handler this far
 * behind closes the connection with 1008 instead: nothing else bounds the queue.
 */
export const UNPAUSABLE_LIMIT_FACTOR = 4;

/** A queue (messages, bytes) at or over the high-water mark. */
export function overHighWater(count: number, bytes: number): boolean {
  return count >= READ_HIGH_WATER_COUNT || bytes >= READ_HIGH_WATER_BYTES;
}

/** A queue back under half the high-water mark. */
export function underLowWater(count: number, bytes: number): boolean {
  return count < READ_HIGH_WATER_COUNT / 2 && bytes < READ_HIGH_WATER_BYTES / 2;
}

/** A queue over what a connection that cannot pause reading may hold. */
export function overUnpausableLimit(count: number, bytes: number): boolean {
  return count >= READ_HIGH_WATER_COUNT * UNPAUSABLE_LIMIT_FACTOR || bytes >= READ_HIGH_WATER_BYTES * UNPAUSABLE_LIMIT_FACTOR;
}

/** What an iterator tells its socket. */
export interface IteratorOwner {
  /** The queue changed: pause or resume reading. */
  updateReadPause(): void;
  /** The loop ended. */
  iteratorDone(iterator: MessageIterator): void;
}

/** A queue between the transport and one `for await` loop, with backpressure on the peer. */
export class MessageIterator implements AsyncIterator<Message> {
  private readonly queue: Message[] = [];
  private waiting: ((result: IteratorResult<Message>) => void) | null = null;
  private finished = false;
  queuedBytes = 0;

  constructor(private readonly owner: IteratorOwner) {}

  get queuedCount(): number {
    return this.queue.length;
  }

  push(message: Message): void {
    if (this.finished) return;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = null;
      resolve({ value: message, done: false });
      return;
    }
    this.queue.push(message);
    this.queuedBytes += message.size;
    this.owner.updateReadPause();
  }

  end(): void {
    this.finished = true;
    if (this.waiting && this.queue.length === 0) {
      const resolve = this.waiting;
      this.waiting = null;
      resolve({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<Message>> {
    const message = this.queue.shift();
    if (message) {
      this.queuedBytes -= message.size;
      this.owner.updateReadPause();
      return Promise.resolve({ value: message, done: false });
    }
    if (this.finished) {
      this.owner.iteratorDone(this);
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve) => (this.waiting = resolve));
  }

  /** `break` out of the loop: stop iterating; the socket stays open and events go on. */
  return(): Promise<IteratorResult<Message>> {
    this.finished = true;
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.owner.iteratorDone(this);
    return Promise.resolve({ value: undefined, done: true });
  }
}
