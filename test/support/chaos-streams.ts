/**
 * The two halves every chaos test shares: a Lifeline route that pushes 1..n to each session
 * under flow control and records what it receives, and the check that a stream is exactly
 * 1..n (nothing lost, duplicated or reordered).
 */
import type { LifelineOptions, Socket } from '@lifeline/server';
import { startApp, type RunningApp } from './servers.js';
import { sleep } from './wait.js';

/** Each side keeps at most this many messages unacknowledged (application flow control, below replay.maxMessages). */
export const WINDOW = 1000;
/** A ~60-byte JSON payload, so frames span chunk boundaries and cuts land mid-frame. */
export const PAD = 'x'.repeat(40);

export interface ServerSession {
  socket: Socket;
  sid: string;
  resetFrom: { sessionId: string; reason: string } | undefined;
  /** Payload ids of the client's messages, in the order the handler got them. */
  received: number[];
  /** Payload ids this session pushed. */
  pushed: number;
  close: { code: number; reason: string } | undefined;
}

export interface PushServer {
  app: RunningApp;
  sessions: ServerSession[];
  /** Client messages received over all sessions. */
  receivedTotal(): number;
}

/**
 * An app whose route `/chaos` records the ids of `{ i }` messages and pushes `{ i: 1..n, p }`
 * itself, at most `burst` per turn and `pauseMs` apart, keeping at most WINDOW
 * unacknowledged (its replay buffer), connected or not.
 */
export async function startPushServer(options: { n: number; burst: number; pauseMs: number; lifeline?: LifelineOptions }): Promise<PushServer> {
  const { n, burst, pauseMs } = options;
  const sessions: ServerSession[] = [];
  const app = await startApp((a) =>
    a.ws('/chaos', { lifeline: options.lifeline ?? true }, (socket) => {
      const session: ServerSession = { socket, sid: socket.sessionId!, resetFrom: socket.resetFrom, received: [], pushed: 0, close: undefined };
      sessions.push(session);
      socket.on('message', (message) => session.received.push((message.json() as { i: number }).i));
      socket.on('close', (code, reason) => (session.close = { code, reason }));
      void (async () => {
        while (session.pushed < n) {
          if (!socket.isOpen) return;
          if (socket.stats.replayMessages! >= WINDOW) {
            await sleep(1);
            continue;
          }
          for (let k = 0; k < burst && session.pushed < n && socket.stats.replayMessages! < WINDOW; k++) {
            if (!socket.sendJson({ i: session.pushed + 1, p: PAD })) return;
            session.pushed++;
          }
          if (pauseMs > 0) await sleep(pauseMs);
          else await new Promise((r) => setImmediate(r));
        }
      })();
    }),
    // As fast as the windows allow, tens of thousands of messages a second on one connection:
    // the subject is loss under chaos, not the rate limit (which would slow the link down).
    { rateLimit: false },
  );
  return { app, sessions, receivedTotal: () => sessions.reduce((sum, s) => sum + s.received.length, 0) };
}

/** Lost, duplicated and reordered ids in a stream that should be exactly 1..n; empty when it is. */
export function checkStream(what: string, got: readonly number[], n: number): string[] {
  const seen = new Uint8Array(n + 1);
  let duplicated = 0;
  let reordered = 0;
  let outOfRange = 0;
  let prev = 0;
  for (const i of got) {
    if (!Number.isInteger(i) || i < 1 || i > n) {
      outOfRange++;
      continue;
    }
    if (seen[i]) duplicated++;
    else seen[i] = 1;
    if (i < prev) reordered++;
    prev = i;
  }
  let lost = 0;
  let firstLost = 0;
  for (let i = 1; i <= n; i++) {
    if (!seen[i]) {
      lost++;
      firstLost ||= i;
    }
  }
  const out: string[] = [];
  if (lost) out.push(`${what}: ${lost} lost (first: ${firstLost})`);
  if (duplicated) out.push(`${what}: ${duplicated} duplicated`);
  if (reordered) out.push(`${what}: ${reordered} out of order`);
  if (outOfRange) out.push(`${what}: ${outOfRange} ids out of range`);
  // The exact check, for whatever the counts above could miss.
  if (out.length === 0 && (got.length !== n || got.some((v, k) => v !== k + 1))) out.push(`${what}: not exactly 1..${n} in order`);
  return out;
}

/** What must hold of the server side after a chaos run: one session, never ended, no reset. */
export function checkServerSessions(sessions: readonly ServerSession[]): string[] {
  const out: string[] = [];
  if (sessions.length !== 1) out.push(`${sessions.length} server sessions (handler runs), expected 1`);
  const closed = sessions.filter((s) => s.close);
  if (closed.length) out.push(`${closed.length} server session(s) ended, e.g. ${closed[0]!.close!.code} ${closed[0]!.close!.reason}`);
  return out;
}

/**
 * Everything that must hold after a chaos run of @lifeline/client against a push server;
 * empty when it all does. `clientSessions`: the session ids the client's opens carried. A
 * link cut after the server sent its welcome and before the client read it leaves a
 * session the client never heard of (it starts a new one, correctly): such an orphan must
 * have received nothing; the one session the client knew carried the whole stream.
 */
export function clientChaosViolations(run: {
  server: PushServer;
  clientGot: number[];
  n: number;
  resets: string[];
  drops: number;
  errors: string[];
  clientSessions: string[];
}): string[] {
  const known = [...new Set(run.clientSessions)];
  const out: string[] = [];
  if (known.length !== 1) out.push(`the client's opens carried ${known.length} session ids, expected 1`);
  const carried = run.server.sessions.filter((s) => known.includes(s.sid));
  out.push(...checkServerSessions(carried));
  for (const orphan of run.server.sessions.filter((s) => !known.includes(s.sid))) {
    if (orphan.received.length > 0) out.push(`a session the client never opened (${orphan.sid}) received ${orphan.received.length} message(s)`);
  }
  if (run.resets.length) out.push(`client saw ${run.resets.length} reset(s): ${[...new Set(run.resets)].join(', ')}`);
  if (run.drops) out.push(`client dropped ${run.drops} message(s)`);
  const protocolErrors = run.errors.filter((code) => code !== 'LL_SOCKET_ERROR' && code !== 'LL_CONNECT_TIMEOUT');
  if (protocolErrors.length) out.push(`client errors: ${[...new Set(protocolErrors)].join(', ')}`);
  out.push(...checkStream('client → server', run.server.sessions.flatMap((s) => s.received), run.n));
  out.push(...checkStream('server → client', run.clientGot, run.n));
  return out;
}
