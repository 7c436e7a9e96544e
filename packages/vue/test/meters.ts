/**
 * Bookkeeping around the real timer and event-listener functions, for leak tests. Nothing
 * is faked: every call goes through to the real function; the meters only remember what
 * is still pending (a timeout until it fires or is cleared, an interval until cleared, a
 * listener until removed). Each entry keeps the stack that created it, so a failure names
 * the line that leaked.
 */

interface Pending {
  kind: string;
  /** The stack frame that called the metered function. */
  origin: string;
  stack: string;
}

export interface Meter {
  /** What is pending now, created since the meter started. */
  pending(): Pending[];
  /** Only what was created by a direct call from a file whose path matches. */
  pendingFrom(path: RegExp): Pending[];
  stop(): void;
}

function meter(entries: Map<unknown, Pending>, restore: () => void): Meter {
  const pending = () => [...entries.values()];
  return {
    pending,
    pendingFrom: (path) => pending().filter((p) => path.test(p.origin)),
    stop: restore,
  };
}

function created(kind: string): Pending {
  const stack = new Error().stack ?? '';
  const origin = stack.split('\n').slice(1).find((frame) => !frame.includes('/meters.ts')) ?? '?';
  return { kind, origin: origin.trim(), stack };
}

/** Meters `setTimeout`/`setInterval` on `globalThis` (what our code calls). */
export function meterTimers(): Meter {
  const g = globalThis;
  const real = { setTimeout: g.setTimeout, clearTimeout: g.clearTimeout, setInterval: g.setInterval, clearInterval: g.clearInterval };
  const live = new Map<unknown, Pending>();
  // Node's Timeout objects convert to their numeric id, which clearTimeout also accepts.
  const key = (handle: unknown) => (typeof handle === 'object' && handle !== null ? Number(handle) : handle);
  g.setTimeout = ((callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const handle = real.setTimeout(
      (...a: unknown[]) => {
        live.delete(key(handle));
        callback(...a);
      },
      ms,
      ...args,
    );
    live.set(key(handle), created('timeout'));
    return handle;
  }) as typeof setTimeout;
  g.setInterval = ((callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const handle = real.setInterval(callback, ms, ...args);
    live.set(key(handle), created('interval'));
    return handle;
  }) as typeof setInterval;
  g.clearTimeout = ((handle?: Parameters<typeof clearTimeout>[0]) => {
    live.delete(key(handle));
    real.clearTimeout(handle);
  }) as typeof clearTimeout;
  g.clearInterval = ((handle?: Parameters<typeof clearInterval>[0]) => {
    live.delete(key(handle));
    real.clearInterval(handle);
  }) as typeof clearInterval;
  return meter(live, () => Object.assign(g, real));
}

type ListenerTarget = Pick<EventTarget, 'addEventListener' | 'removeEventListener'>;

/** Meters `addEventListener`/`removeEventListener` on the given targets (window, document). */
export function meterListeners(targets: Record<string, ListenerTarget>): Meter {
  const live = new Map<string, Pending>();
  const listenerIds = new WeakMap<object, number>();
  let nextId = 0;
  const id = (listener: unknown) => {
    if (typeof listener !== 'object' && typeof listener !== 'function') return String(listener);
    if (listener === null) return 'null';
    if (!listenerIds.has(listener)) listenerIds.set(listener, nextId++);
    return String(listenerIds.get(listener));
  };
  const capture = (options: unknown) => (typeof options === 'boolean' ? options : !!(options as { capture?: boolean } | undefined)?.capture);
  const restores: (() => void)[] = [];
  for (const [name, target] of Object.entries(targets)) {
    const { addEventListener: add, removeEventListener: remove } = target;
    const key = (type: string, listener: unknown, options: unknown) => `${name} ${type} ${id(listener)} ${capture(options)}`;
    target.addEventListener = function (this: ListenerTarget, type: string, listener: unknown, options?: unknown) {
      live.set(key(type, listener, options), created(`${name} ${type}`));
      return add.call(this, type, listener as EventListener, options as AddEventListenerOptions);
    } as ListenerTarget['addEventListener'];
    target.removeEventListener = function (this: ListenerTarget, type: string, listener: unknown, options?: unknown) {
      live.delete(key(type, listener, options));
      return remove.call(this, type, listener as EventListener, options as EventListenerOptions);
    } as ListenerTarget['removeEventListener'];
    restores.push(() => Object.assign(target, { addEventListener: add, removeEventListener: remove }));
  }
  return meter(live, () => restores.forEach((restore) => restore()));
}

/**
 * Meters one client's `on()` subscriptions: each `on()` counts until the function it
 * returned is called. (A subscription removed with `off()` instead would stay counted: the
 * composable uses the returned functions, and this meter holds it to that.)
 *
 * It wraps the instance's public `on`, as meterTimers wraps `setTimeout`: a pass-through,
 * not a stand-in. Every call reaches the real client, which registers the listener and
 * delivers to it, and every unsubscribe calls the real function the client returned; the
 * client keeps no count of its listeners that a test could read instead. leaks.test.ts
 * checks that the meter passes events and unsubscriptions through.
 */
export function meterSubscriptions<C extends { on: (...args: any[]) => () => void }>(client: C): Meter {
  const live = new Map<object, Pending>();
  const on = client.on;
  client.on = ((...args: unknown[]) => {
    const off = on.apply(client, args);
    const token = {};
    live.set(token, created(`on ${String(args[0])}`));
    return () => {
      live.delete(token);
      off();
    };
  }) as C['on'];
  return meter(live, () => {
    client.on = on;
  });
}

/** For failure messages: what is pending, one line each, with the frame that created it. */
export function describePending(pending: Pending[]): string {
  return pending.map((p) => `${p.kind} ${p.origin}`).join('\n');
}
