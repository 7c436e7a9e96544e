import type { LifelineClient } from '@lifeline/client';
import { onScopeDispose, shallowRef, type ShallowRef } from 'vue';

export type LogKind = 'in' | 'out' | 'info' | 'warn';

export interface LogEntry {
  id: number;
  at: number;
  kind: LogKind;
  text: string;
}

export interface EventLog {
  /** Newest first, at most `limit`. */
  readonly entries: Readonly<ShallowRef<readonly LogEntry[]>>;
  add(kind: LogKind, text: string): void;
}

/** A bounded log of what happened on a connection, newest first (what the seed page printed to the console, on the page). */
export function useEventLog(limit = 200): EventLog {
  const entries = shallowRef<readonly LogEntry[]>([]);
  let next = 0;
  return {
    entries,
    add(kind, text) {
      entries.value = [{ id: ++next, at: Date.now(), kind, text }, ...entries.value.slice(0, limit - 1)];
    },
  };
}

/**
 * Writes the connection's life into `log`: opens (with the session in Lifeline mode),
 * closes with their code and reason, each scheduled retry, resets, errors and drops.
 * Listens to the client directly rather than watching refs, because watchers run once per
 * tick and would merge events that happen together. Stops when the component unmounts.
 */
export function logConnection<In, Out>(client: LifelineClient<In, Out> | undefined, log: EventLog, describe: (data: In) => string | undefined): void {
  if (!client) return;
  const offs = [
    client.on('open', ({ attempt, session }) => {
      const how = session ? ` — session ${shortId(session.id)} ${session.resumed ? 'resumed, nothing lost' : 'new'}` : '';
      log.add('info', `connected on attempt ${attempt}${how}`);
    }),
    client.on('close', ({ code, reason, action }) =>
      log.add('warn', `connection closed: ${code}${reason ? ` ${reason}` : ''}${action === 'stop' ? ' (not retrying)' : ''}`),
    ),
    client.on('state', (state, previous) => {
      // Each scheduled attempt once; the same wait reported again (went offline, …) is not news.
      if (state.status !== 'reconnecting' || state.nextAttemptAt === undefined || previous.nextAttemptAt === state.nextAttemptAt) return;
      log.add('info', `attempt ${state.attempt} in ${((state.nextAttemptAt - Date.now()) / 1000).toFixed(1)} s`);
    }),
    client.on('message', (message) => {
      if (message.error) log.add('warn', `unreadable message (${message.error.code}): ${message.text ?? ''}`);
      else {
        const text = describe(message.data);
        if (text !== undefined) log.add('in', text);
      }
    }),
    client.on('reset', ({ reason, session, unconfirmed }) =>
      log.add('warn', `session reset (${reason}): new session ${shortId(session.id)}; ${unconfirmed.length} message(s) unconfirmed`),
    ),
    // A failed socket says nothing in a browser ("WebSocket error"); the close entry after it has the code.
    client.on('error', (error) => error.code !== 'LL_SOCKET_ERROR' && log.add('warn', `${error.code}: ${error.message}`)),
    client.on('drop', ({ reason }) => log.add('warn', `a message was not sent (${reason})`)),
  ];
  onScopeDispose(() => offs.forEach((off) => off()));
}

/** Enough of a session id to tell sessions apart on screen (the full id is in the title). */
export const shortId = (id: string | undefined) => (id === undefined ? '—' : id.slice(0, 8));
