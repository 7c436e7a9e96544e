/**
 * Lifeline sessions shared with other processes through a session store (PROTOCOL.md §2.7),
 * as the app runs them: a claim from another node hands a session over (or ends the stale
 * copy here), a store back after an outage makes every session check it is still stored,
 * and the idle sessions' entries are kept alive a few times per resume window.
 */
import type { Logger } from '../leaves/logger.js';
import type { LifelineRoute } from '../lifeline/route.js';
import type { SharedSessionStore } from '../lifeline/session-store.js';

/**
 * How long a session asked for by another node may take to store what it holds before it
 * lets go; below the store's hand-over timeout (2 s by default), after which it is taken anyway.
 */
const HANDOVER_STORE_TIMEOUT_MS = 1_000;

export class SharedSessions {
  private keepAliveTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: SharedSessionStore,
    private readonly routes: readonly LifelineRoute[],
    private readonly logger: () => Logger,
  ) {
    // A session whose client resumed on another node is handed over (or, if taken, ends
    // here at once) rather than waiting out its resume window.
    store.onClaimed((sessionId, kind, attach) => this.claimed(sessionId, kind, attach));
    // Back after being unreachable: Redis may have restarted empty; every session here checks, and stores itself again if so.
    store.onReconnect?.(() => {
      for (const route of this.routes) for (const session of route.store.values()) session.checkStored();
    });
  }

  private claimed(sessionId: string, kind: 'release' | 'moved', attach: number | undefined): void {
    const session = this.routes.map((route) => route.store.get(sessionId)).find((found) => found !== undefined);
    if (kind === 'moved') session?.movedAway();
    else if (session !== undefined) {
      // Meant for the connection this copy is on, and no resume of it being confirmed here (that
      // resume is newer than the claim, which then finds the session on a later attach and asks again).
      if ((session.shared?.confirming ?? 0) > 0 || (attach !== undefined && session.journal?.attach !== attach)) return;
      void session.handOver(HANDOVER_STORE_TIMEOUT_MS);
    } else {
      this.store.releaseOrphan(sessionId).catch((error: unknown) => {
        this.logger().log('warn', 'session-release-failed', { sid: sessionId, error: (error as Error).message });
      });
    }
  }

  /**
   * Each session's entry expires unless its node refreshes it: sessions that sent or
   * received something did; the idle ones are refreshed here, a few times per resume
   * window, in one batch per route. Starts once there is a Lifeline route.
   */
  startKeepAlive(): void {
    if (this.keepAliveTimer !== undefined || this.routes.length === 0) return;
    const store = this.store;
    const window = Math.min(...this.routes.map((route) => route.options.resumeWindow));
    this.keepAliveTimer = setInterval(() => {
      for (const route of this.routes) {
        const ids = [...route.store.values()].map((session) => session.sessionId);
        if (ids.length === 0) continue;
        store.keepAlive(ids, route.options.resumeWindow).catch((error: unknown) => {
          this.logger().log('warn', 'session-store-keepalive-failed', { route: route.path, sessions: ids.length, error: (error as Error).message });
        });
      }
    }, Math.max(1000, window / 4));
    this.keepAliveTimer.unref();
  }

  stop(): void {
    clearInterval(this.keepAliveTimer);
  }
}
