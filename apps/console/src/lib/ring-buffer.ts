/**
 * A fixed-capacity FIFO over one preallocated array: pushing past the capacity overwrites
 * the oldest item, so memory is bounded by the capacity whatever the message rate, and
 * neither push nor evict ever copies the contents (an `Array.shift()` per message would
 * make a full 100,000-entry log quadratic).
 */
export class RingBuffer<T> {
  #items: (T | undefined)[];
  /** Index of the oldest item. */
  #head = 0;
  #length = 0;

  constructor(capacity: number) {
    this.#items = new Array<T | undefined>(checkCapacity(capacity));
  }

  get capacity(): number {
    return this.#items.length;
  }

  get length(): number {
    return this.#length;
  }

  /** Appends; returns the item it evicted when full. */
  push(item: T): T | undefined {
    const items = this.#items;
    const capacity = items.length;
    if (this.#length < capacity) {
      items[(this.#head + this.#length) % capacity] = item;
      this.#length++;
      return undefined;
    }
    const evicted = items[this.#head];
    items[this.#head] = item;
    this.#head = (this.#head + 1) % capacity;
    return evicted;
  }

  /** Removes and returns the oldest item. */
  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    const items = this.#items;
    const item = items[this.#head];
    items[this.#head] = undefined; // let it be collected
    this.#head = (this.#head + 1) % items.length;
    this.#length--;
    return item;
  }

  /** The item at `index`, 0 being the oldest. */
  at(index: number): T | undefined {
    if (index < 0 || index >= this.#length) return undefined;
    return this.#items[(this.#head + index) % this.#items.length];
  }

  /** The newest item. */
  last(): T | undefined {
    return this.at(this.#length - 1);
  }

  clear(): void {
    this.#items = new Array<T | undefined>(this.#items.length);
    this.#head = 0;
    this.#length = 0;
  }

  /** Changes the capacity, keeping the newest items that fit; returns what no longer fits, oldest first. */
  resize(capacity: number): T[] {
    const size = checkCapacity(capacity);
    const dropped: T[] = [];
    while (this.#length > size) dropped.push(this.shift()!);
    const next = new Array<T | undefined>(size);
    for (let i = 0; i < this.#length; i++) next[i] = this.at(i);
    this.#items = next;
    this.#head = 0;
    return dropped;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.#length; i++) yield this.at(i)!;
  }
}

function checkCapacity(capacity: number): number {
  if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`A ring buffer needs a whole capacity ≥ 1, not ${capacity}.`);
  return capacity;
}
