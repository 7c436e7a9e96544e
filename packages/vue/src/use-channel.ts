import { LifelineError, type LifelineClientLike } from '@lifeline/client';
import {
  channels,
  type ChannelPosition,
  type ChannelResetInfo,
  type PresenceMember,
  type Publication,
  type Subscription,
  type SubscriptionState,
} from '@lifeline/client/channels';
import { getCurrentScope, onScopeDispose, shallowRef, toValue, triggerRef, watch, type MaybeRefOrGetter, type ShallowRef } from 'vue';
import { injectShared } from './plugin.js';
import { isServerRendering } from './server-rendering.js';

export interface UseChannelOptions {
  /** A Lifeline-mode client (or a shared one, `shared()` from `@lifeline/client/shared`); default the app's (`createLifeline({ url, mode: lifeline() })`). */
  client?: LifelineClientLike<any, any>;
  /** Join the channel's presence and keep `members`. */
  presence?: boolean;
  /** Start after a saved position (`position.value` from earlier): what was published since is recovered, or `lastReset` says it cannot be. Applies to the first channel only. */
  since?: ChannelPosition;
  /** Publications kept in `history`, oldest first. Default 100; 0 keeps none. */
  historySize?: number;
}

export interface UseChannelReturn<T = unknown> {
  /** The subscription itself (for its events); `undefined` during server rendering and after `unsubscribe()`. */
  readonly subscription: Readonly<ShallowRef<Subscription<T> | undefined>>;
  /** The last publication's data. Every publication triggers watchers, also a repeat of the same value. */
  readonly data: Readonly<ShallowRef<T | undefined>>;
  /** The last `historySize` publications (with channel, offset, epoch), oldest first. A new array per publication. */
  readonly history: Readonly<ShallowRef<readonly Publication<T>[]>>;
  /** `subscribing` (also while reconnecting), `subscribed`, `unsubscribed` (refused, ended, or during server rendering). */
  readonly status: Readonly<ShallowRef<SubscriptionState>>;
  /** The last publication delivered (offset 0 before the first): save it to come back with `since`. */
  readonly position: Readonly<ShallowRef<ChannelPosition | undefined>>;
  /** The last reset: publications were lost (`epoch`, `too-old`); resynchronise. */
  readonly lastReset: Readonly<ShallowRef<ChannelResetInfo | undefined>>;
  /** With `presence: true`: who is present; else `undefined`. */
  readonly members: Readonly<ShallowRef<readonly PresenceMember[] | undefined>>;
  /** Why the server refused the subscription (`LL_FORBIDDEN`, `LL_TOO_MANY_CHANNELS`, …), or refused the member list. */
  readonly error: Readonly<ShallowRef<LifelineError | undefined>>;
  /** Publishes on the channel (the server must allow it: `clientPublish`); resolves with its position. */
  publish(data: unknown): Promise<ChannelPosition>;
  /** Ends the subscription now (the scope's end does it too); the refs keep their last values. */
  unsubscribe(): void;
}

const DEFAULT_HISTORY_SIZE = 100;

/**
 * A channel's publications as refs (docs/vue.md, useChannel): `useChannel('prices:btc')` on the
 * app's shared Lifeline-mode connection, or `useChannel(name, { client })`. `name` may be a
 * ref or a getter: a new name unsubscribes the old channel and subscribes the new one.
 * Unsubscribes when the current effect scope ends; inert during server rendering.
 */
export function useChannel<T = unknown>(name: MaybeRefOrGetter<string>, options: UseChannelOptions = {}): UseChannelReturn<T> {
  const { historySize = DEFAULT_HISTORY_SIZE, presence = false } = options;
  if (!Number.isInteger(historySize) || historySize < 0) {
    throw new LifelineError('LL_INVALID_OPTION', `Option historySize is ${String(historySize)}; expected a whole number ≥ 0.`);
  }
  const refs = createRefs<T>();
  const shared =
    options.client === undefined
      ? injectShared('useChannel() has no client to use: pass a Lifeline-mode one (useChannel(name, { client })), or install the shared connection with app.use(createLifeline({ url, mode: lifeline() })).')
      : undefined;
  const client = options.client ?? shared?.client;
  // (The plugin makes no client where there is no window, which is server rendering too.)
  if (isServerRendering() || !client) return inert(refs);
  const hub = channels(client); // throws LL_NOT_LIFELINE for a raw-mode client
  shared?.start();

  const { subscription, data, history, status, position, lastReset, members, error } = refs;
  let since = options.since;
  let offs: (() => void)[] = [];

  const stop = (): void => {
    const sub = subscription.value;
    if (!sub) return;
    sub.unsubscribe(); // its `state` event still reaches `status`
    for (const off of offs) off();
    offs = [];
    subscription.value = undefined;
  };

  const start = (channel: string): void => {
    stop();
    data.value = undefined;
    history.value = [];
    lastReset.value = undefined;
    error.value = undefined;
    const sub = hub.subscribe<T>(channel, { presence, ...(since ? { since } : {}) });
    since = undefined; // a saved position means nothing to another channel
    subscription.value = sub;
    status.value = sub.state;
    position.value = sub.position;
    members.value = sub.members;
    offs = [
      sub.on('publication', (p) => {
        // A shallowRef ignores an assignment of the value it holds; a repeated publication is still news.
        if (Object.is(data.value, p.data)) triggerRef(data);
        else data.value = p.data;
        if (historySize > 0) {
          const kept = history.value;
          history.value = [...kept.slice(Math.max(0, kept.length + 1 - historySize)), p];
        }
        position.value = sub.position;
      }),
      sub.on('state', (state) => (status.value = state)),
      sub.on('subscribed', () => (position.value = sub.position)),
      sub.on('reset', (info) => {
        lastReset.value = info;
        position.value = sub.position;
      }),
      sub.on('presence', (change) => (members.value = change.members)),
      sub.on('error', (e) => (error.value = e)),
    ];
  };

  const stopWatching = watch(() => toValue(name), start, { immediate: true });
  const dispose = (): void => {
    stopWatching();
    stop();
  };
  // Outside any scope nothing can tell it when to stop: the caller calls unsubscribe().
  if (getCurrentScope()) onScopeDispose(dispose);

  return {
    ...refs,
    publish: (value) => {
      const sub = subscription.value;
      return sub ? sub.publish(value) : hub.publish(toValue(name), value);
    },
    unsubscribe: dispose,
  };
}

function createRefs<T>() {
  return {
    subscription: shallowRef<Subscription<T>>(),
    data: shallowRef<T>(),
    history: shallowRef<readonly Publication<T>[]>([]),
    status: shallowRef<SubscriptionState>('unsubscribed'),
    position: shallowRef<ChannelPosition>(),
    lastReset: shallowRef<ChannelResetInfo>(),
    members: shallowRef<readonly PresenceMember[]>(),
    error: shallowRef<LifelineError>(),
  } satisfies Omit<UseChannelReturn<T>, 'publish' | 'unsubscribe'>;
}

/** Server rendering: the same shape, nothing subscribed. */
function inert<T>(refs: ReturnType<typeof createRefs<T>>): UseChannelReturn<T> {
  return {
    ...refs,
    publish: () =>
      Promise.reject(new LifelineError('LL_NO_WEBSOCKET', 'useChannel(): there is no connection during server rendering; publish from onMounted() or event handlers.')),
    unsubscribe: () => {},
  };
}
