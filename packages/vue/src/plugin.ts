import { createClient, LifelineError, type ClientOptions, type LifelineClient } from '@lifeline/client';
import { hasInjectionContext, inject, type App, type InjectionKey } from 'vue';

/** What `createClient` accepts as a URL: a string, a `URL`, or a function called before every attempt. */
export type LifelineUrl = Parameters<typeof createClient>[0];

export interface CreateLifelineOptions<In = unknown, Out = unknown> extends ClientOptions<In, Out> {
  /** Where the shared connection goes. */
  url: LifelineUrl;
}

/** The plugin returned by `createLifeline()`. */
export interface LifelinePlugin<In = unknown, Out = unknown> {
  install(app: App): void;
  /**
   * The shared client, for what the composable does not cover (`client.handle()`, code
   * outside components). `undefined` where no client is made: without `window` (on the
   * server).
   */
  readonly client: LifelineClient<In, Out> | undefined;
}

/** What the plugin provides to the app's components. */
export interface SharedLifeline {
  readonly client: LifelineClient<any, any> | undefined;
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
export function createLifeline<In = unknown, Out = unknown>(options: CreateLifelineOptions<In, Out>): LifelinePlugin<In, Out> {
  const { url, autoOpen = true, ...clientOptions } = options;
  const client = typeof window === 'undefined' ? undefined : createClient<In, Out>(url, { ...clientOptions, autoOpen: false });
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
