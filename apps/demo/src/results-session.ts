import type { UseLifelineReturn } from '@lifeline/vue';
import { onScopeDispose, reactive, shallowRef, watch } from 'vue';
import { shortId, type EventLog } from './event-log';
import { TAB } from './results-connection';
import type { FromResults, Numbered, PiResult, ReceiveLog, RunInfo } from './wire';

/** A message typed into the Lifeline panel, and what became of it. */
export interface SentItem {
  seq: number;
  text: string;
  /** queued: waiting for a connection; sent: written, no echo yet; echoed; unconfirmed: a reset lost track of it. */
  state: 'queued' | 'sent' | 'echoed' | 'unconfirmed';
  /** Echoes received for it: 1 is right, 2 would be a duplicate. */
  echoes: number;
  /** Its place in the server session's receive log, from the echo. */
  index?: number;
  /** The session that echoed it. */
  session?: string;
}

/** The result stream as this page checks it: steps of one run must come 1, 2, 3 … */
export interface StreamCheck {
  received: number;
  /** Steps skipped (a lost result). */
  gaps: number;
  /** Steps seen again or going backwards (a duplicate or a reordering). */
  repeats: number;
  /** Results that arrived after the last reconnect but were computed before it: held by the server and replayed. */
  replayed: number;
}

/** The answer to `history`, judged. */
export interface ServerLogSummary {
  sessionId: string | undefined;
  total: number;
  /** This tab's messages in the log, in the server's order (tabs sharing the session number their own). */
  seqs: number[];
  /** Messages of other tabs (or of this one before a reload) in the log. */
  others: number;
  inOrder: boolean;
  repeats: number;
}

type Results = UseLifelineReturn<FromResults, Numbered>;

const KEPT_RESULTS = 60;
const KEPT_SENT = 200;
const RTT_EVERY_MS = 5000;
const REQUEST_TIMEOUT_MS = 5000;

/**
 * The Lifeline panel's state over the `/results` session: numbered sends and their echoes,
 * the pushed results with a gap/repeat check, requests (`run`, `history`, `time` for RTT),
 * and what a reset means for messages already sent.
 */
export function useResultsSession(conn: Results, log: EventLog) {
  const sent = reactive<SentItem[]>([]);
  const results = shallowRef<readonly PiResult[]>([]);
  const stream = reactive<StreamCheck>({ received: 0, gaps: 0, repeats: 0, replayed: 0 });
  const serverLog = shallowRef<ServerLogSummary>();
  /** Round trip of the last `time` request: the server's heartbeat never pings a link this busy. */
  const requestRtt = shallowRef<number>();
  let nextSeq = 1;
  let expected: { stream: string; step: number } | undefined;
  let openedAt = 0;

  const client = conn.client;
  const offs = [
    client?.on('message', ({ data }) => {
      if (data?.type === 'result') onResult(data);
      else if (data?.type === 'echo') onEcho(data.seq, data.index, data.tab, data.text);
    }),
    client?.on('open', () => {
      openedAt = Date.now();
      stream.replayed = 0;
      // The outbox was flushed just before 'open': what waited for a connection is written now.
      for (const item of sent) if (item.state === 'queued') item.state = 'sent';
      void measureRtt();
    }),
    client?.on('reset', ({ unconfirmed }) => {
      // Written to the old session and never acknowledged: it may or may not have arrived there.
      const lost = new Set((unconfirmed as Numbered[]).filter((value) => value.tab === TAB).map((value) => value.seq));
      for (const item of sent) if (lost.has(item.seq) && item.state !== 'echoed') item.state = 'unconfirmed';
      serverLog.value = undefined;
    }),
  ];
  const rttTimer = setInterval(() => void measureRtt(), RTT_EVERY_MS);
  onScopeDispose(() => {
    offs.forEach((off) => off?.());
    clearInterval(rttTimer);
  });
  // A run of the previous session means nothing to the next one.
  watch(conn.session, (now, before) => now?.id !== before?.id && (expected = undefined));

  function onResult(result: PiResult): void {
    stream.received++;
    // Keyed by session and run: a reset starts a new session at run 1, step 1 again.
    const key = `${conn.session.value?.id}/${result.run}`;
    if (expected?.stream === key) {
      if (result.step > expected.step) stream.gaps += result.step - expected.step;
      else if (result.step < expected.step) stream.repeats++;
    }
    expected = { stream: key, step: result.step + 1 };
    // Same clock on both ends in this demo (one machine); across machines, skew would blur this count.
    if (result.at < openedAt) stream.replayed++;
    results.value = [...results.value.slice(-(KEPT_RESULTS - 1)), result];
  }

  function onEcho(seq: number | null, index: number, tab: string | undefined, text: string): void {
    // Every tab of the page shares the session, so every tab sees every echo; a reloaded tab
    // also sees those of what it typed before the reload, sent now from the store.
    if (tab !== TAB) return log.add('in', `echo of tab ${tab ?? '?'}'s #${seq} “${text}” — the server's message #${index}`);
    const item = sent.find((s) => s.seq === seq);
    if (!item) return log.add('in', `echo of a message this page did not send (seq ${seq}), server #${index}`);
    item.echoes++;
    item.state = 'echoed';
    item.index = index;
    item.session = conn.session.value?.id;
    log.add('in', `echo #${seq} “${item.text}” — the server's message #${index}${item.echoes > 1 ? ` (DUPLICATE ×${item.echoes})` : ''}`);
  }

  function send(text: string, seq = nextSeq++): void {
    const open = conn.status.value === 'open';
    conn.send({ seq, text, tab: TAB });
    const item = sent.find((s) => s.seq === seq);
    if (item) item.state = open ? 'sent' : 'queued';
    else {
      sent.push({ seq, text, state: open ? 'sent' : 'queued', echoes: 0 });
      if (sent.length > KEPT_SENT) sent.shift();
    }
    log.add('out', `#${seq} “${text}”${open ? '' : ' (queued until connected)'}`);
  }

  /** Sends again, with their numbers, the messages a reset left unconfirmed. */
  function resendUnconfirmed(): void {
    for (const item of sent.filter((s) => s.state === 'unconfirmed')) send(item.text, item.seq);
  }

  async function startRun(steps: number, batch: number): Promise<void> {
    try {
      const info = (await conn.request('run', { steps, batch }, { timeout: REQUEST_TIMEOUT_MS })) as RunInfo;
      log.add('info', `run ${info.run} started: ${info.steps ?? '∞'} steps of ${info.batch.toLocaleString('en')} samples`);
    } catch (error) {
      log.add('warn', `run refused: ${(error as Error).message}`);
    }
  }

  async function checkServerLog(): Promise<void> {
    try {
      const answer = (await conn.request('history', null, { timeout: REQUEST_TIMEOUT_MS })) as ReceiveLog;
      const mine = answer.received.filter((r) => r.tab === TAB);
      const seqs = mine.flatMap((r) => (r.seq === null ? [] : [r.seq]));
      serverLog.value = {
        sessionId: answer.sessionId,
        total: answer.total,
        seqs,
        others: answer.received.length - mine.length,
        inOrder: seqs.every((seq, i) => i === 0 || seq > seqs[i - 1]!),
        repeats: seqs.length - new Set(seqs).size,
      };
      log.add('info', `session ${shortId(answer.sessionId)} has received ${answer.total} message(s)`);
    } catch (error) {
      log.add('warn', `history failed: ${(error as Error).message}`);
    }
  }

  async function measureRtt(): Promise<void> {
    if (conn.status.value !== 'open') return;
    const started = performance.now();
    try {
      await conn.request('time', null, { timeout: REQUEST_TIMEOUT_MS });
      requestRtt.value = Math.round(performance.now() - started);
    } catch {
      // Lost with the connection; the next open measures again.
    }
  }

  return { sent, results, stream, serverLog, requestRtt, send, resendUnconfirmed, startRun, checkServerLog };
}

/** `[1,2,3,5,7,8]` → `1–3, 5, 7–8`: a receive log a person can check at a glance. */
export function describeSeqs(seqs: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < seqs.length; ) {
    let j = i;
    while (j + 1 < seqs.length && seqs[j + 1] === seqs[j]! + 1) j++;
    parts.push(j === i ? `${seqs[i]}` : `${seqs[i]}–${seqs[j]}`);
    i = j + 1;
  }
  return parts.join(', ') || 'none';
}
