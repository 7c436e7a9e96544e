/** Callers waiting for "something new arrived", each with its own deadline. */
export class Waiters {
  private readonly waiting = new Set<() => void>();

  /** Wakes every caller waiting now. */
  wake(): void {
    for (const waiter of [...this.waiting]) waiter();
  }

  /** Resolves true at the next wake (at once when `ready`), false after `timeoutMs`. */
  wait(ready: boolean, timeoutMs: number): Promise<boolean> {
    if (ready) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (arrived: boolean) => {
        clearTimeout(timer);
        this.waiting.delete(waiter);
        resolve(arrived);
      };
      const waiter = () => done(true);
      const timer = setTimeout(() => done(false), Math.max(0, timeoutMs));
      this.waiting.add(waiter);
    });
  }
}
