/**
 * Graceful shutdown's connection side: every raw socket closes with the shutdown code and a
 * retry-after hint spread over `retryWindow`; Lifeline sessions end, or with a shared store
 * are handed off (each client resumes on another node, told to come back over the time the
 * other nodes need); links still before their hello close; what is left after
 * `drainTimeout` is cut off.
 */
import { formatRetryHint } from '@lifeline/protocol';
import type { Logger } from '../leaves/logger.js';
import type { SharedSessionStore } from '../lifeline/session-store.js';
import type { Connections } from './connections.js';
import type { ShutdownOptions } from './options.js';

export async function drainConnections(conns: Connections, store: SharedSessionStore | undefined, logger: Logger, options: Required<ShutdownOptions>): Promise<void> {
  const text = options.code === 1012 ? 'server restart' : 'server going away';
  const hint = () => formatRetryHint(text, Math.random() * options.retryWindow);
  for (const socket of conns.raw) socket.close(options.code, hint());
  // Sessions end with the process (the in-memory store goes with it); so do connections still before their hello.
  // With a shared store, sessions are handed off rather than ended: each client resumes on another node.
  const sessions = conns.sessions;
  const spread = await handOffSpread(store, logger, sessions.length, options);
  const handOffs = sessions.map((session) =>
    store ? session.handOff(options.code, formatRetryHint(text, Math.random() * spread), options.drainTimeout) : session.close(options.code, hint()),
  );
  for (const link of conns.links) if (link.session === null) link.closeWith(options.code, hint());
  await Promise.all(handOffs);
  await waitForConnections(conns, options.drainTimeout);
  const cutOff = conns.count;
  if (cutOff > 0) {
    logger.log('warn', 'shutdown-cut-off', { connections: cutOff, drainTimeout: options.drainTimeout });
    for (const socket of conns.raw) socket.terminate();
    for (const link of conns.links) link.terminate();
    await waitForConnections(conns, 1000); // their close events follow the destroyed sockets
  }
}

/**
 * Over how many ms the clients of handed-off sessions are told to come back (PROTOCOL.md
 * §1.4): with other nodes sharing the store, only as long as they need to take `sessions`
 * resumes at `handOffRate` each; alone (or not knowing), the whole `retryWindow`.
 */
async function handOffSpread(store: SharedSessionStore | undefined, logger: Logger, sessions: number, options: Required<ShutdownOptions>): Promise<number> {
  if (store?.otherNodes === undefined || sessions === 0) return options.retryWindow;
  let others = 0;
  try {
    others = await store.otherNodes();
  } catch (error) {
    logger.log('warn', 'shutdown-node-count-failed', { error: (error as Error).message });
  }
  if (others === 0) return options.retryWindow;
  const spread = Math.min(options.retryWindow, Math.ceil((sessions * 1000) / (others * options.handOffRate)));
  logger.log('info', 'shutdown-hand-off', { sessions, otherNodes: others, spreadMs: spread });
  return spread;
}

function waitForConnections(conns: Connections, timeoutMs: number): Promise<void> {
  if (conns.count === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, timeoutMs);
    const check = setInterval(() => conns.count === 0 && done(), 20);
    function done() {
      clearTimeout(timer);
      clearInterval(check);
      resolve();
    }
  });
}
