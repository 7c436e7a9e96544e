import type { LifelineClientLike } from '@lifeline/client';
import { describeCloseCode } from '@lifeline/protocol';
import { onScopeDispose, shallowRef, type ShallowRef } from 'vue';

export type LogKind = 'in' | 'out' | 'info' | 'warn';

export interface LogEntry {
  id: number;
  at: number;
  kind: LogKind;
  text: string;
  /** Entries added with the same key one after another are one entry, rewritten each time. */
  key?: string;
}

export interface EventLog {
  /** Newest first, at most `limit`. */
  readonly entries: Readonly<ShallowRef<readonly LogEntry[]>>;
  /** Adds an entry; with `key`, rewrites the newest entry instead when it has the same key (a run of retries is one line). */
  add(kind: LogKind, text: string, key?: string): void;
}

/** A bounded log of what happened on a connection, newest first (what the seed page printed to the console, on the page). */
export function useEventLog(limit = 200): EventLog {
  const entries = shallowRef<readonly LogEntry[]>([]);
  let next = 0;
  return {
    entries,
    add(kind, text, key) {
      const [newest, ...rest] = entries.value;
      const entry = { id: ++next, at: Date.now(), kind, text, key };
      entries.value = key !== undefined && newest?.key === key ? [entry, ...rest] : [entry, ...entries.value.slice(0, limit - 1)];
    },
  };
}

/** Why an attempt that never opened ended, in words: a browser reports a refused or unanswered handshake as 1006. */
function failedAttemptWords(code: number): string {
  return code === 1006 ? 'no answer: the server is down, restarting or unreachable' : describeCloseCode(code);
}

/**
 * Writes the connection's life into `log`: opens (with the session in Lifeline mode),
 * closes with their code and reason, each scheduled retry, resets, errors and drops.
 * Listens to the client directly rather than watching refs, because watchers run once per
 * tick and would merge events that happen together. Stops when the component unmounts.
 */
export function logConnection<In, Out>(client: LifelineClientLike<In, Out> | undefined, log: EventLog, describe: (data: In) => string | undefined): void {
  if (!client) return;
  /** The current attempt opened; attempts that failed in a row since the last open: the first one's number and how many. */
  let open = false;
  let failed = { first: 0, count: 0 };
  /** `; attempt 4 in 2.3 s` while a retry is scheduled. */
  const next = () => {
    const s = client.state;
    return s.status === 'reconnecting' && s.nextAttemptAt !== undefined ? `; attempt ${s.attempt} in ${Math.max(0, (s.nextAttemptAt - Date.now()) / 1000).toFixed(1)} s` : '';
  };
  const offs = [
    client.on('open', ({ attempt, session }) => {
      open = true;
      failed = { first: 0, count: 0 };
      const how = session ? ` — session ${shortId(session.id)} ${session.resumed ? 'resumed, nothing lost' : 'new'}` : '';
      log.add('info', `connected on attempt ${attempt}${how}`);
    }),
    client.on('close', ({ code, reason, action }) => {
      const stop = action === 'stop' ? ' — not retrying' : next();
      if (open) {
        open = false;
        log.add('warn', `connection closed: ${code}${reason ? ` “${reason}”` : ''} — ${describeCloseCode(code)}${stop}`);
        return;
      }
      // A run of failed attempts is one line, rewritten with each attempt.
      const attempt = client.state.status === 'reconnecting' ? client.state.attempt - 1 : client.state.attempt;
      failed = failed.count === 0 ? { first: attempt, count: 1 } : { first: failed.first, count: failed.count + 1 };
      const which = failed.count === 1 ? `attempt ${attempt} failed` : `attempts ${failed.first}–${attempt} failed`;
      log.add('warn', `${which} (${code}: ${failedAttemptWords(code)})${stop}`, 'failed-attempts');
    }),
    client.on('state', (state, previous) => {
      // Each scheduled attempt once; the same wait reported again (went offline, …) is not news.
      // After a close, the close's line already says when the next attempt is.
      if (state.status !== 'reconnecting' || state.nextAttemptAt === undefined || previous.nextAttemptAt === state.nextAttemptAt) return;
      if (previous.status === 'open' || previous.status === 'connecting') return;
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
      log.add(
        'warn',
        `session reset (${reason}): new session ${shortId(session.id)}; ` +
          (unconfirmed.length === 0 ? 'nothing sent before was left unconfirmed' : `${unconfirmed.length} message${unconfirmed.length === 1 ? '' : 's'} sent before never confirmed`),
      ),
    ),
    // A failed socket says nothing in a browser ("WebSocket error"); the close entry after it has the code.
    client.on('error', (error) => error.code !== 'LL_SOCKET_ERROR' && log.add('warn', `${error.code}: ${error.message}`)),
    client.on('drop', ({ reason }) => log.add('warn', `a message was not sent (${reason})`)),
  ];
  onScopeDispose(() => offs.forEach((off) => off()));
}

/** Enough of a session id to tell sessions apart on screen (the full id is in the title). */
export const shortId = (id: string | undefined) => (id === undefined ? '—' : id.slice(0, 8));
