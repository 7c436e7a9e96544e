import {
  createClient,
  LifelineError,
  type ClientOptions,
  type ClientState,
  type CloseInfo,
  type LifelineClientLike,
  type Message,
  type RequestOptions,
  type ResetInfo,
  type SendOptions,
  type SessionInfo,
  type Status,
} from '@lifeline/client';
import { computed, getCurrentScope, onScopeDispose, ref, shallowRef, triggerRef, type ComputedRef, type Ref, type ShallowRef } from 'vue';
import { injectShared, type LifelineUrl } from './plugin.js';
import { isServerRendering } from './server-rendering.js';

export interface UseLifelineOptions {
  /** Messages kept in `history`, oldest first. Default 100; 0 keeps none. */
  historySize?: number;
}

export interface UseLifelineReturn<In = unknown, Out = unknown> {
  /**
   * The client: the one passed in (a `LifelineClient`, or a tab's client on a connection all
   * tabs share, `shared()` from `@lifeline/client/shared`), the app's shared one, or the one
   * made from the URL. `undefined` during server rendering.
   */
  readonly client: LifelineClientLike<In, Out> | undefined;
  /** The client's whole state (a new object on every transition). */
  readonly state: Readonly<ShallowRef<ClientState>>;
  readonly status: ComputedRef<Status>;
  /** The attempt the state is about (`state.attempt`). */
  readonly attempt: ComputedRef<number>;
  /** While `reconnecting` on a timer: when the next attempt starts (epoch ms). */
  readonly nextAttemptAt: ComputedRef<number | undefined>;
  /** Whole seconds until `nextAttemptAt`, rounded up, ticking; `undefined` when no attempt is scheduled. */
  readonly countdown: Readonly<Ref<number | undefined>>;
  /** The last decoded message's data. Every message triggers watchers, also a repeat of the same value. */
  readonly data: Readonly<ShallowRef<In | undefined>>;
  /** The last `historySize` messages, oldest first, including those that could not be decoded (`message.error`). A new array per message. */
  readonly history: Readonly<ShallowRef<readonly Message<In>[]>>;
  /** Round-trip time of the last answered heartbeat probe, ms (`client.rtt`). */
  readonly latency: Readonly<Ref<number | undefined>>;
  /** The last error the client reported (socket error, timeouts, retries exhausted); cleared when a connection opens. */
  readonly error: Readonly<ShallowRef<LifelineError | undefined>>;
  /** How the last connection ended. */
  readonly lastClose: ComputedRef<CloseInfo | undefined>;
  /** Messages waiting in the client's outbox. */
  readonly queued: Readonly<Ref<number>>;
  /** Lifeline mode: the current session; `undefined` in raw mode and before the first welcome. */
  readonly session: Readonly<ShallowRef<SessionInfo | undefined>>;
  /** Lifeline mode: the last reset (the server could not resume the session). */
  readonly lastReset: Readonly<ShallowRef<ResetInfo | undefined>>;
  /** `client.send()`: `false` when the message was dropped (the client emits `drop`). */
  send(value: Out, options?: SendOptions): boolean;
  /** `client.request()` (Lifeline mode): resolves with the server's answer, rejects with a `LifelineError`. */
  request(name: string, data?: unknown, options?: RequestOptions): Promise<unknown>;
  /** `client.open()`: connect, or retry now while reconnecting. */
  open(): void;
  /** `client.close()`: close for good until `open()`; on a shared client, for every component. */
  close(code?: number, reason?: string): void;
}

const DEFAULT_HISTORY_SIZE = 100;

/**
 * Reactive state of a Lifeline connection (docs/vue.md).
 *
 * - `useLifeline()`: the app's shared client, from `app.use(createLifeline({ url }))`.
 * - `useLifeline(client)`: a client you made; on dispose only this composable's listeners go.
 * - `useLifeline(url, options)`: a client of its own (`options` go to `createClient`), closed on dispose.
 *
 * Disposal follows the current effect scope (a component's, or an `effectScope()`); during
 * server rendering no client is made or listened to and the refs stay `idle`.
 */
export function useLifeline<In = unknown, Out = unknown>(source?: undefined, options?: UseLifelineOptions): UseLifelineReturn<In, Out>;
export function useLifeline<In, Out>(client: LifelineClientLike<In, Out>, options?: UseLifelineOptions): UseLifelineReturn<In, Out>;
export function useLifeline<In = unknown, Out = unknown>(
  url: LifelineUrl,
  options?: UseLifelineOptions & ClientOptions<In, Out>,
): UseLifelineReturn<In, Out>;
export function useLifeline<In = unknown, Out = unknown>(
  source?: LifelineUrl | LifelineClientLike<In, Out>,
  options: UseLifelineOptions & ClientOptions<In, Out> = {},
): UseLifelineReturn<In, Out> {
  const { historySize = DEFAULT_HISTORY_SIZE, ...clientOptions } = options;
  if (!Number.isInteger(historySize) || historySize < 0) {
    throw new LifelineError('LL_INVALID_OPTION', `Option historySize is ${String(historySize)}; expected a whole number ≥ 0.`);
  }
  const shared =
    source === undefined
      ? injectShared(
          'useLifeline() has no URL or client to use: pass one (useLifeline(url) or useLifeline(client)), ' +
            'or install the shared connection in this app with app.use(createLifeline({ url })).',
        )
      : undefined;
  // (The plugin makes no client where there is no window, which is server rendering too.)
  if (isServerRendering() || (shared && !shared.client)) return idle();

  let client: LifelineClientLike<In, Out>;
  let owned = false;
  if (shared?.client) {
    // The plugin cannot know the app's message types; the caller states them.
    client = shared.client as LifelineClientLike<In, Out>;
    shared.start();
  } else if (isClient<In, Out>(source)) {
    client = source;
  } else {
    client = createClient<In, Out>(source!, clientOptions);
    owned = true;
  }

  const refs = createRefs<In, Out>(client.state);
  const { state, countdown, data, history, latency, error, queued, session, lastReset } = refs;
  latency.value = client.rtt;
  queued.value = client.queued;
  session.value = client.session;

  let tick: ReturnType<typeof setTimeout> | undefined;
  // Counts down to nextAttemptAt, waking only when the shown number changes. The timer exists
  // only while an attempt is scheduled, and each wake reads the wall clock, so a throttled
  // (late) timer in a hidden tab shows the right number when it does run.
  const updateCountdown = (): void => {
    clearTimeout(tick);
    tick = undefined;
    const s = state.value;
    const at = s.status === 'reconnecting' ? s.nextAttemptAt : undefined;
    if (at === undefined) {
      countdown.value = undefined;
      return;
    }
    const remaining = at - Date.now();
    const seconds = Math.max(0, Math.ceil(remaining / 1000));
    countdown.value = seconds;
    // At 0 the client's own retry timer is due; its state change ends the countdown.
    if (seconds > 0) tick = setTimeout(updateCountdown, remaining - (seconds - 1) * 1000);
  };
  updateCountdown();

  const unsubscribe = [
    client.on('state', (next) => {
      state.value = next;
      queued.value = client.queued;
      session.value = client.session;
      if (next.error) error.value = next.error;
      updateCountdown();
    }),
    client.on('open', () => {
      error.value = undefined;
      queued.value = client.queued;
      session.value = client.session;
    }),
    client.on('message', (message) => {
      if (!message.error) {
        // A shallowRef ignores an assignment of the value it holds; a repeated message is still news.
        if (Object.is(data.value, message.data)) triggerRef(data);
        else data.value = message.data;
      }
      if (historySize > 0) {
        const kept = history.value;
        history.value = [...kept.slice(Math.max(0, kept.length + 1 - historySize)), message];
      }
    }),
    client.on('error', (e) => (error.value = e)),
    client.on('heartbeat', (rtt) => (latency.value = rtt)),
    client.on('drop', () => (queued.value = client.queued)),
    client.on('reset', (info) => {
      lastReset.value = info;
      session.value = client.session;
    }),
  ];

  const dispose = (): void => {
    // Close first, so that the refs show `closed` to anyone still reading them after dispose.
    if (owned) client.close();
    for (const off of unsubscribe) off();
    clearTimeout(tick);
    tick = undefined;
  };
  // Outside any scope there is nothing to follow: the caller closes (docs/vue.md).
  if (getCurrentScope()) onScopeDispose(dispose);

  return {
    ...refs,
    client,
    send(value, sendOptions) {
      const sent = client.send(value, sendOptions);
      queued.value = client.queued;
      return sent;
    },
    request(name, payload, requestOptions) {
      const answer = client.request(name, payload, requestOptions);
      queued.value = client.queued;
      return answer;
    },
    open: () => void client.open(),
    close: (code, reason) => client.close(code, reason),
  };
}

function isClient<In, Out>(source: LifelineUrl | LifelineClientLike<In, Out> | undefined): source is LifelineClientLike<In, Out> {
  // Duck-typed rather than instanceof: two copies of @lifeline/client in one bundle still work, and so does a shared client.
  return typeof source === 'object' && source !== null && typeof (source as Partial<LifelineClientLike>).on === 'function';
}

function createRefs<In, Out>(initial: ClientState) {
  const state = shallowRef(initial);
  return {
    state,
    status: computed(() => state.value.status),
    attempt: computed(() => state.value.attempt),
    nextAttemptAt: computed(() => state.value.nextAttemptAt),
    lastClose: computed(() => state.value.lastClose),
    countdown: ref<number>(),
    data: shallowRef<In>(),
    history: shallowRef<readonly Message<In>[]>([]),
    latency: ref<number>(),
    error: shallowRef<LifelineError>(),
    queued: ref(0),
    session: shallowRef<SessionInfo>(),
    lastReset: shallowRef<ResetInfo>(),
  } satisfies Omit<UseLifelineReturn<In, Out>, 'client' | 'send' | 'request' | 'open' | 'close'>;
}

/** Server rendering: the same shape, nothing connected, nothing listened to. */
function idle<In, Out>(): UseLifelineReturn<In, Out> {
  return {
    ...createRefs<In, Out>({ status: 'idle', attempt: 0, since: Date.now() }),
    client: undefined,
    send: () => false,
    request: () =>
      Promise.reject(
        new LifelineError('LL_NO_WEBSOCKET', 'useLifeline(): there is no connection during server rendering; send requests from onMounted() or event handlers.'),
      ),
    open: () => {},
    close: () => {},
  };
}
