/**
 * In-process Lifeline nodes sharing sessions through one real redis-server, and the
 * protocol-level test client on them, for the tests of claims and of a Redis that hangs.
 * Each node's route `/s` echoes every message (`{ echo: data }`) unless told not to, and
 * records its handler runs, how each ended, its drops and the events it logged.
 */
import { createRedisSessionStore, type RedisSessionStore, type RedisSessionStoreOptions } from '@lifeline/redis';
import type { LifelineOptions, Socket } from '@lifeline/server';
import { LifelineTestClient } from '../../../test/support/lifeline-test-client.js';
import type { RedisServer } from '../../../test/support/redis.js';
import { startApp, type RunningApp } from '../../../test/support/servers.js';
import { waitFor } from '../../../test/support/wait.js';

export interface SessionNode {
  running: RunningApp;
  store: RedisSessionStore;
  /** ws URL of the route `/s`. */
  url: string;
  /** Every handler run on this node, in order. */
  sockets: Socket[];
  /** How each handler run ended: [code, reason]. */
  closes: Map<Socket, [number, string]>;
  /** Reasons of every `drop` event, in order. */
  drops: string[];
  /** Names of the events this node logged, in order. */
  events: string[];
}

export interface SessionNodeOptions {
  store?: Partial<RedisSessionStoreOptions>;
  lifeline?: LifelineOptions;
  /** Echo every message; default true. */
  echo?: boolean;
}

export const metaKey = (sid: string) => `lifeline:session:{${sid}}`;

/** True once `node` has seen the connection of its first session go. */
export const detached = (socket: Socket) => (socket as Socket & { connected: boolean }).connected === false;

/** Node and client helpers bound to one test file's redis-server and cleanup. */
export function sessionNodes(redis: () => RedisServer, cleanup: (stop: () => unknown) => void) {
  async function startNode(nodeId: string, options: SessionNodeOptions = {}): Promise<SessionNode> {
    const store = createRedisSessionStore({ url: redis().url, nodeId, commandTimeout: 500, ...options.store });
    const node: Omit<SessionNode, 'running'> = { store, url: '', sockets: [], closes: new Map(), drops: [], events: [] };
    const logger = { enabled: () => true, log: (_level: string, event: string) => void node.events.push(event) };
    const running = await startApp(
      (app) =>
        app.ws('/s', { lifeline: { resumeWindow: 30_000, ...options.lifeline } }, (socket) => {
          node.sockets.push(socket);
          socket.on('message', (m) => {
            if (options.echo !== false) socket.sendJson({ echo: m.json() });
          });
          socket.on('close', (code, reason) => node.closes.set(socket, [code, reason]));
          socket.on('drop', (info) => node.drops.push(info.reason));
        }),
      { sessionStore: store, logger },
    );
    await store.ready();
    cleanup(async () => {
      redis().resume(); // never leave Redis stopped behind a failed test
      await running.stop();
      await store.close();
    });
    return { ...node, running, url: running.wsUrl('/s') };
  }

  /** A client on `node` with a session the store holds. */
  async function sessionOn(node: SessionNode, options: { autoAck?: boolean } = {}): Promise<LifelineTestClient> {
    const client = new LifelineTestClient(node.url, options);
    cleanup(() => client.close());
    await client.connect();
    await waitFor(async () => (await redis().command('EXISTS', metaKey(client.sid!))) === ':1', 'the session stored');
    return client;
  }

  /** A client that continues `from`'s session (id, token, positions) on `node`, with `rx` if given; it does not acknowledge. */
  function resumer(node: SessionNode, from: LifelineTestClient, rx?: number): LifelineTestClient {
    const client = new LifelineTestClient(node.url, { autoAck: false });
    cleanup(() => client.close());
    client.continueFrom(from);
    if (rx !== undefined) client.rx = rx;
    return client;
  }

  return { startNode, sessionOn, resumer };
}
