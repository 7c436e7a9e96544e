/**
 * A TCP proxy on 127.0.0.1 that breaks what it carries, for resume tests. Every proxied
 * connection is cut 50–500 ms (configurable) after it opened: both sides destroyed at
 * once, with no closing handshake. About half of the cuts (configurable) wait for the next
 * chunk in either direction and forward only a random part of it first, so that the peer
 * gets a frame cut in the middle. All randomness comes from one seeded PRNG, so a failing
 * run can be replayed with the seed it printed (`CHAOS_SEED=<n>`).
 */
import net from 'node:net';

/** mulberry32: a small, fast, seedable PRNG; returns floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seed from `CHAOS_SEED` if set, else a fresh one. */
export function chaosSeed(): number {
  const fromEnv = process.env.CHAOS_SEED;
  if (fromEnv !== undefined && fromEnv !== '') {
    const seed = Number(fromEnv);
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new Error(`CHAOS_SEED must be an integer from 0 to 2^32-1, got "${fromEnv}"`);
    return seed;
  }
  return Math.floor(Math.random() * 0x100000000);
}

export interface ChaosProxyOptions {
  /** Where to forward: a port on 127.0.0.1. */
  targetPort: number;
  seed: number;
  /** Each connection lives a random time in [minLifeMs, maxLifeMs]; defaults 50 and 500. */
  minLifeMs?: number;
  maxLifeMs?: number;
  /** Probability that a cut forwards part of the next chunk first (a frame cut mid-frame); default 0.5. */
  partialChunkRate?: number;
}

export interface ChaosStats {
  /** Connections accepted. */
  connections: number;
  /** Connections the proxy cut (the rest ended by themselves, or at stop). */
  cuts: number;
  /** Cuts that forwarded only part of a chunk first. */
  partialCuts: number;
  /** Bytes forwarded, both directions. */
  bytes: number;
  /** Chunks from the server that vanished in a blackhole (what a test waits for to know the server wrote into it). */
  blackholedFromServer: number;
}

export interface ChaosProxy {
  port: number;
  seed: number;
  stats: ChaosStats;
  /** Whether cuts happen; connections made while off are left alone (until it is on again). */
  chaos: boolean;
  /** Destroys every connection now (counted as a cut). */
  cutAll(): void;
  /**
   * While true, bytes in both directions vanish and nothing is closed: a link that died
   * without a FIN or RST (a pulled cable, a NAT that forgot the flow). New connections
   * made meanwhile vanish too; see {@link ChaosProxy.blackholeLinks} for a dead link that a
   * reconnect gets past without the test having to lift anything.
   */
  blackhole: boolean;
  /**
   * The connections open now go silent (bytes vanish both ways, nothing is closed), as a
   * NAT that forgot those flows; connections made afterwards are carried as usual. A client
   * that notices the dead link and reconnects gets through whenever it does, so a test
   * never races its reconnect.
   */
  blackholeLinks(): void;
  /**
   * While true, bytes wait in the proxy in both directions (it stops reading), and nothing is
   * closed: a link that stalls. Set false, they go on, in order, nothing lost.
   */
  stall: boolean;
  /** New connections go to this port on 127.0.0.1 from now on (a server restarted elsewhere). */
  targetPort: number;
  /** Stops listening and destroys every connection. */
  close(): Promise<void>;
}

interface Pair {
  client: net.Socket;
  server: net.Socket;
  timer: NodeJS.Timeout | undefined;
  /** Armed: the next chunk is forwarded in part, then the pair is cut. */
  cutOnNextChunk: boolean;
  dead: boolean;
  /** Blackholed by blackholeLinks(): bytes vanish, nothing is closed. */
  silent: boolean;
}

export async function startChaosProxy(options: ChaosProxyOptions): Promise<ChaosProxy> {
  const random = seededRandom(options.seed);
  const minLife = options.minLifeMs ?? 50;
  const maxLife = options.maxLifeMs ?? 500;
  const partialRate = options.partialChunkRate ?? 0.5;
  const stats: ChaosStats = { connections: 0, cuts: 0, partialCuts: 0, bytes: 0, blackholedFromServer: 0 };
  const pairs = new Set<Pair>();
  let chaos = true;
  let blackhole = false;
  let stall = false;
  let targetPort = options.targetPort;

  const kill = (pair: Pair) => {
    if (pair.dead) return;
    pair.dead = true;
    clearTimeout(pair.timer);
    pairs.delete(pair);
    pair.client.destroy();
    pair.server.destroy();
  };

  const cut = (pair: Pair) => {
    if (pair.dead) return;
    stats.cuts++;
    kill(pair);
  };

  const arm = (pair: Pair) => {
    const life = minLife + random() * (maxLife - minLife);
    pair.timer = setTimeout(() => {
      pair.timer = undefined;
      if (!chaos || pair.dead) return;
      if (random() < partialRate) {
        pair.cutOnNextChunk = true;
        // Nothing flowing: cut anyway after a while, so every connection does get cut.
        pair.timer = setTimeout(() => cut(pair), 50);
      } else cut(pair);
    }, life);
  };

  const forward = (pair: Pair, to: net.Socket, chunk: Buffer) => {
    if (pair.dead) return;
    if (blackhole || pair.silent) {
      if (to === pair.client) stats.blackholedFromServer++;
      return;
    }
    if (pair.cutOnNextChunk) {
      if (chunk.length > 1) {
        to.write(chunk.subarray(0, 1 + Math.floor(random() * (chunk.length - 1))));
        stats.partialCuts++;
      }
      // write() has queued the part; destroy() right after would discard it, so end the
      // writable side first and destroy on the next turn, once it is flushed to the kernel.
      pair.dead = true;
      clearTimeout(pair.timer);
      pairs.delete(pair);
      stats.cuts++;
      pair.client.pause();
      pair.server.pause();
      setImmediate(() => {
        pair.client.destroy();
        pair.server.destroy();
      });
      return;
    }
    stats.bytes += chunk.length;
    to.write(chunk);
  };

  const server = net.createServer({ noDelay: true }, (client) => {
    stats.connections++;
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort, noDelay: true });
    const pair: Pair = { client, server: upstream, timer: undefined, cutOnNextChunk: false, dead: false, silent: false };
    pairs.add(pair);
    if (stall) {
      client.pause();
      upstream.pause();
    }
    client.on('data', (chunk: Buffer) => forward(pair, upstream, chunk));
    upstream.on('data', (chunk: Buffer) => forward(pair, client, chunk));
    // A half-close passes through (a closing handshake ends cleanly); an error or a full close ends the pair.
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    for (const socket of [client, upstream]) {
      socket.on('error', () => kill(pair));
      socket.on('close', () => kill(pair));
    }
    arm(pair);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    seed: options.seed,
    stats,
    get chaos() {
      return chaos;
    },
    get blackhole() {
      return blackhole;
    },
    set blackhole(on: boolean) {
      blackhole = on;
    },
    get stall() {
      return stall;
    },
    set stall(on: boolean) {
      stall = on;
      for (const pair of pairs) {
        for (const socket of [pair.client, pair.server]) {
          if (on) socket.pause();
          else socket.resume();
        }
      }
    },
    get targetPort() {
      return targetPort;
    },
    set targetPort(port: number) {
      targetPort = port;
    },
    set chaos(on: boolean) {
      chaos = on;
      if (on) for (const pair of pairs) if (pair.timer === undefined && !pair.cutOnNextChunk) arm(pair);
    },
    cutAll() {
      for (const pair of [...pairs]) cut(pair);
    },
    blackholeLinks() {
      for (const pair of pairs) pair.silent = true;
    },
    close() {
      for (const pair of [...pairs]) kill(pair);
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
