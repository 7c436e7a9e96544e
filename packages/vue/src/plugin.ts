import { createClient, LifelineError, type ClientOptions, type LifelineClient, type LifelineClientLike } from '@lifeline/client';
import { hasInjectionContext, inject, type App, type InjectionKey } from 'vue';

/** What `createClient` accepts as a URL: a string, a `URL`, or a function called before every attempt. */
export type LifelineUrl = Parameters<typeof createClient>[0];

export interface CreateLifelineOptions<In = unknown, Out = unknown> extends ClientOptions<In, Out> {
  /** Where the shared connection goes. */
  url: LifelineUrl;
}

/**
 * `createLifeline({ client: () => shared(url, options) })`: the app's connection is one made
 * elsewhere, e.g. the connection every tab shares (`@lifeline/client/shared`). The function is
 * called only where there is a `window` (never during server rendering).
 */
export interface CreateLifelineFrom<C extends LifelineClientLike<any, any>> {
  client: () => C;
}

/** The plugin returned by `createLifeline()`. */
export interface LifelinePlugin<In = unknown, Out = unknown, C extends LifelineClientLike<In, Out> = LifelineClient<In, Out>> {
  install(app: App): void;
  /**
   * The app's client, for what the composable does not cover (`client.handle()`, code
   * outside components). `undefined` where no client is made: without `window` (on the
   * server).
   */
  readonly client: C | undefined;
}

/** What the plugin provides to the app's components. */
export interface SharedLifeline {
  readonly client: LifelineClientLike<any, any> | undefined;
  /** Opens the shared connection the first time a component uses it in the browser (unless `autoOpen: false`). */
  start(): void;
}

export const sharedLifelineKey: InjectionKey<SharedLifeline> = Symbol('@lifeline/vue shared client');

/** The app's shared connection, for a composable called without a client; throws `LL_INVALID_OPTION` with `missing` when there is none. */
export function injectShared(missing: string): SharedLifeline {
  const shared = hasInjectionContext() ? inject(sharedLifelineKey, null) : null;
  if (!shared) throw new LifelineError('LL_INVALID_OPTION', missing);
  return shared;
}

/**
 * `app.use(createLifeline({ url, ...clientOptions }))`: one connection for the whole app,
 * used by every `useLifeline()` called without a URL.
 *
 * The client is made at once (so `plugin.client` can take `handle()` registrations before
 * anything connects) but opens only when the first component uses it in the browser: an
 * app rendered on the server (`renderToString`) never connects, even where a DOM exists.
 * Unmounting the app closes it.
 */
export function createLifeline<In = unknown, Out = unknown>(options: CreateLifelineOptions<In, Out>): LifelinePlugin<In, Out>;
export function createLifeline<In = unknown, Out = unknown, C extends LifelineClientLike<In, Out> = LifelineClientLike<In, Out>>(
  options: CreateLifelineFrom<C>,
): LifelinePlugin<In, Out, C>;
export function createLifeline<In = unknown, Out = unknown>(
  options: CreateLifelineOptions<In, Out> | CreateLifelineFrom<LifelineClientLike<In, Out>>,
): LifelinePlugin<In, Out, LifelineClientLike<In, Out>> {
  let client: LifelineClientLike<In, Out> | undefined;
  let autoOpen = true;
  if ('client' in options) {
    client = typeof window === 'undefined' ? undefined : options.client();
  } else {
    const { url, autoOpen: open = true, ...clientOptions } = options;
    autoOpen = open;
    client = typeof window === 'undefined' ? undefined : createClient<In, Out>(url, { ...clientOptions, autoOpen: false });
  }
  let started = !autoOpen;
  const shared: SharedLifeline = {
    client,
    start() {
      if (started) return;
      started = true;
      client?.open();
    },
  };
  return {
    client,
    install(app) {
      app.provide(sharedLifelineKey, shared);
      // app.onUnmount is Vue ≥ 3.5; on 3.4, close `plugin.client` yourself if the app can unmount.
      (app as Partial<Pick<App, 'onUnmount'>>).onUnmount?.(() => client?.close());
    },
  };
}
