/**
 * Typed events for the objects of the client's optional entry points (channels, the
 * persistent store, the shared connection): `on` returns its own unsubscribe function, and
 * a listener that throws does not stop delivery to the others (its error is rethrown in a
 * microtask, as the client does).
 */
export type Off = () => void;

type Listener = (...args: any[]) => void;

export class Emitter<E extends { [K in keyof E]: unknown[] }> {
  readonly #listeners = new Map<keyof E, Set<Listener>>();

  on<K extends keyof E>(type: K, listener: (...args: E[K]) => void): Off {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, (set = new Set()));
    set.add(listener);
    return () => this.off(type, listener);
  }

  off<K extends keyof E>(type: K, listener: (...args: E[K]) => void): void {
    this.#listeners.get(type)?.delete(listener);
  }

  emit<K extends keyof E>(type: K, ...args: E[K]): void {
    for (const listener of this.#listeners.get(type) ?? []) {
      try {
        listener(...args);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
