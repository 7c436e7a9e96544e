import { shared, type SharedClient } from '@lifeline/client/shared';
import { createLifeline } from '@lifeline/vue';
import { RECONNECT, wsUrl } from './connection';
import type { FromResults, Numbered } from './wire';

/**
 * The Lifeline panel's connection, the app's (useLifeline() without a URL): one session of
 * `/results` for every tab of this page (`shared()`, issue 18). The first tab holds the
 * WebSocket; the others reach it over a BroadcastChannel, and take it over when it closes.
 * The session and what was typed are kept in IndexedDB (`store`), so a reload, even while
 * the server is down, loses nothing.
 */
export const results = createLifeline({
  client: (): SharedClient<FromResults, Numbered> => shared<FromResults, Numbered>(wsUrl('results'), { store: 'demo-results', reconnect: RECONNECT }),
});

/**
 * This page's label in the messages it sends (`{ seq, text, tab }`): tabs that share the
 * session each number their own messages, and the route echoes the label back.
 */
export const TAB = Math.random().toString(36).slice(2, 5).toUpperCase();
