/**
 * One tab's connection: its settings, a `@lifeline/client` made on every Connect (settings
 * may change between connects), its state as refs through `useLifeline` from
 * `@lifeline/vue`, and the log, the charts' metrics and the explanations fed from it.
 *
 * What the log shows in raw mode is read from the wire (tapped-socket.ts), so it is what
 * was really sent and received, heartbeats included, in the order it happened. In Lifeline
 * mode the log shows the application's messages (the client's events) and the envelope
 * watch adds what the session did underneath.
 */
import { createClient, type ClientOptions, type CloseInfo, type LifelineClient, type ReconnectOptions } from '@lifeline/client';
import { lifeline } from '@lifeline/client/lifeline';
import { LIFELINE_JSON_PROTOCOL as LIFELINE_PROTOCOL } from '@lifeline/protocol';
import { useLifeline, type UseLifelineReturn } from '@lifeline/vue';
import { effectScope, reactive, ref, shallowRef, type EffectScope } from 'vue';
import { EnvelopeWatch } from './envelope-watch';
import { describeClose, diagnose, failureSentence, notLifelineSentence, STOPPED_SENTENCE } from './explain';
import { DEFAULT_LIMITS, MessageLog, now, type EntryInit, type LogEntry } from './message-log';
import { Metrics } from './metrics';
import { toHex } from './payload';
import { tappedWebSocket } from './tapped-socket';

export interface ConnectionSettings {
  url: string;
  /** Subprotocols to offer, separated by commas or spaces. */
  protocols: string;
  /** Lifeline mode (`lifeline.v1`): sessions that survive reconnects. */
  lifeline: boolean;
  /** Reconnect with the client's backoff when the link is lost. */
  reconnect: boolean;
  /** The window of the first retry, ms (the client's `reconnect.initialDelay`; it doubles per failure). */
  reconnectInitialDelay: number;
  /** The largest window between retries, ms (`reconnect.maxDelay`). */
  reconnectMaxDelay: number;
  /** A heartbeat probe when the link is silent (raw mode: the message below; Lifeline mode: the server's pings). */
  heartbeat: boolean;
  heartbeatMessage: string;
  /** The server's answer to the probe, kept out of the message events; empty: any frame answers. */
  heartbeatReply: string;
  heartbeatInterval: number;
}

export function defaultSettings(): ConnectionSettings {
  const origin = typeof location === 'undefined' ? 'ws://127.0.0.1:5000' : location.origin.replace(/^http/, 'ws');
  return {
    url: `${origin}/echo`,
    protocols: '',
    lifeline: false,
    reconnect: true,
    reconnectInitialDelay: RECONNECT_DEFAULTS.initialDelay,
    reconnectMaxDelay: RECONNECT_DEFAULTS.maxDelay,
    heartbeat: false,
    heartbeatMessage: 'ping',
    heartbeatReply: 'ping',
    heartbeatInterval: 10_000,
  };
}

/** @lifeline/client's own backoff defaults (docs/client.md): the form starts at them, and the code snippet leaves them out. */
export const RECONNECT_DEFAULTS = { initialDelay: 1000, maxDelay: 30_000 } as const;

/**
 * After a failed attempt the handshake is checked again only this long after the last check
 * of the same run of failures: a server coming back is seen by the next attempt anyway, and
 * one check per attempt would be a request a second at short backoffs.
 */
const RECHECK_MS = 10_000;

/** The backoff settings that differ from the client's defaults. */
export function reconnectOptions(settings: ConnectionSettings): ReconnectOptions {
  const options: ReconnectOptions = {};
  if (settings.reconnectInitialDelay !== RECONNECT_DEFAULTS.initialDelay) options.initialDelay = settings.reconnectInitialDelay;
  if (settings.reconnectMaxDelay !== RECONNECT_DEFAULTS.maxDelay) options.maxDelay = settings.reconnectMaxDelay;
  return options;
}

export function protocolList(protocols: string): string[] {
  return protocols.split(/[\s,]+/).filter(Boolean);
}

/** What the composer hands over. */
export type Outgoing = { kind: 'text'; text: string } | { kind: 'json'; text: string; value: unknown } | { kind: 'binary'; bytes: Uint8Array };

type Live = UseLifelineReturn<unknown, unknown>;

/** The options `createClient` gets for these settings (also what "copy as code" prints). */
export function clientOptions(settings: ConnectionSettings): ClientOptions {
  const protocols = protocolList(settings.protocols);
  const options: ClientOptions = {
    reconnect: settings.reconnect ? reconnectOptions(settings) : false,
  };
  if (settings.lifeline) {
    options.mode = lifeline();
    // In Lifeline mode the server pings; the switch only decides whether silence ends the link.
    options.heartbeat = settings.heartbeat ? {} : false;
  } else {
    if (protocols.length) options.protocols = protocols;
    if (settings.heartbeat) {
      options.heartbeat = {
        message: settings.heartbeatMessage,
        interval: settings.heartbeatInterval,
        ...(settings.heartbeatReply ? { reply: settings.heartbeatReply } : {}),
      };
    }
  }
  return options;
}

let nextId = 1;

export class Connection {
  readonly id = nextId++;
  readonly settings: ConnectionSettings;
  readonly log = new MessageLog(DEFAULT_LIMITS);
  readonly metrics = new Metrics();
  /** The current client's state, as refs; undefined before the first Connect. */
  readonly live = shallowRef<Live>();
  /** Why the connection could not open, in words (cleared when it opens). */
  readonly failure = ref<string>();
  /** The subprotocol the server selected on the current connection ('' for none). */
  readonly protocol = ref('');
  #client: LifelineClient | undefined;
  #scope: EffectScope | undefined;
  /** Settings the current client was made with (the form may have changed since). */
  #active: ConnectionSettings | undefined;
  /** The current attempt reached the client's `open` (in Lifeline mode: the session's welcome). */
  #openNow = false;
  /** We close the client ourselves: on Disconnect (its close is logged), or after a definitive refusal (already said). */
  #closing: 'disconnect' | 'refused' | undefined;
  /** Attempts that failed before opening, since the last open. */
  #failedInARow = 0;
  /** The handshake check of the current run of failures. */
  #check: { running: boolean; at: number; text?: string } = { running: false, at: 0 };
  /** The client's latest error (Lifeline mode: why the session did not start). */
  #lastError: string | undefined;
  /** Tag of the send in progress, for the tapped frame it produces. */
  #sending: string | undefined;
  readonly #unsubscribe: (() => void)[] = [];
  /** Told of every new log entry (automation rules, scripts). */
  readonly listeners = new Set<(entry: LogEntry) => void>();

  constructor(settings: Partial<ConnectionSettings> = {}) {
    this.settings = reactive({ ...defaultSettings(), ...settings });
    this.log.onEntry = (entry) => {
      this.#measure(entry);
      for (const listener of this.listeners) listener(entry);
    };
  }

  get client(): LifelineClient | undefined {
    return this.#client;
  }

  /** Settings of the connection that is live (or was last). */
  get active(): ConnectionSettings | undefined {
    return this.#active;
  }

  connect(): void {
    this.disconnect();
    const settings = { ...this.settings };
    const protocols = protocolList(settings.protocols);
    this.failure.value = undefined;
    this.#openNow = false;
    this.#failedInARow = 0;
    this.#check = { running: false, at: 0 };
    this.#lastError = undefined;
    /** What the browser's socket of the current attempt did: the handshake may succeed while the client's open does not follow. */
    const attempt = { socketOpen: false, protocol: '' };
    const watch = settings.lifeline ? new EnvelopeWatch((e) => this.log.add({ dir: 'sys', text: e.text, level: e.level, tag: 'lifeline' })) : undefined;
    const WebSocket = tappedWebSocket({
      attempt: () => Object.assign(attempt, { socketOpen: false, protocol: '' }),
      open: (protocol) => Object.assign(attempt, { socketOpen: true, protocol }),
      frame: (direction, data) => (watch ? watch.inspect(direction, data) : this.#wire(direction, data, settings)),
      // In Lifeline mode the client closes with 1002, 1007 or 1008 when the server breaks the
      // protocol; a browser lets a page close only with 1000 or 3000–4999, and throws, and
      // @lifeline/client then closes with 4002, 4007 or 4008 and the same reason (PROTOCOL.md
      // §2.6: 1000 would end the session).
      closeRefused: (code, error) =>
        this.log.add({
          dir: 'sys',
          text: `the browser refused close(${String(code)}): ${(error as Error).message} The client closed with ${code === undefined ? 'its browser code' : 4000 + (code % 1000)} and the same reason instead.`,
          level: 'warn',
        }),
    });
    let client: LifelineClient;
    try {
      client = createClient(settings.url.trim(), { ...clientOptions(settings), WebSocket });
    } catch (error) {
      this.failure.value = (error as Error).message;
      this.log.add({ dir: 'sys', text: (error as Error).message, level: 'error' });
      return;
    }
    this.#client = client;
    this.#active = settings;
    const scope = effectScope(true);
    this.#scope = scope;
    this.live.value = scope.run(() => useLifeline(client, { historySize: 0 }));
    const offered = settings.lifeline ? 'lifeline.v1' : protocols.length ? protocols.join(', ') : 'no subprotocol';
    this.log.add({ dir: 'sys', text: `connecting to ${client.url} (offering ${offered})` });
    this.#unsubscribe.push(
      client.on('open', (info) => {
        this.#openNow = true;
        this.#failedInARow = 0;
        this.#check = { running: false, at: 0 };
        this.failure.value = undefined;
        this.protocol.value = info.protocol;
        const session = info.session ? `; session ${info.session.id}${info.session.resumed ? ' resumed' : ''}` : '';
        this.log.add({ dir: 'sys', text: `connected to ${info.url}${info.protocol ? ` with subprotocol ${info.protocol}` : ' (no subprotocol)'}${info.attempt > 1 ? ` after ${info.attempt} attempts` : ''}${session}` });
      }),
      client.on('close', (info) => {
        const wasOpen = this.#openNow;
        this.#openNow = false;
        if (this.#closing === 'refused') return;
        if (wasOpen || this.#closing) this.#logClose(info, settings);
        else this.#failedAttempt(client, info, settings, protocols, attempt);
      }),
      client.on('state', (state, previous) => {
        // After an attempt that never opened, the failed-attempt line says when the next one is.
        if (state.status === 'reconnecting' && state.nextAttemptAt !== undefined && !this.#openNow && previous.status === 'connecting') return;
        if (state.status === 'reconnecting' && state.nextAttemptAt !== undefined) {
          const seconds = Math.max(0, (state.nextAttemptAt - Date.now()) / 1000).toFixed(1);
          this.log.add({ dir: 'sys', text: `reconnecting in ${seconds} s (attempt ${state.attempt})` });
        } else if (state.status === 'reconnecting' && state.waitingFor === 'online') {
          this.log.add({ dir: 'sys', text: 'waiting for the network to come back (the browser is offline)', level: 'warn' });
        } else if (state.status === 'closed' && state.error) {
          this.log.add({ dir: 'sys', text: state.error.message, level: 'error' });
        }
      }),
      client.on('error', (error) => {
        // A socket error is always followed by a close, which explains more; say the rest.
        if (error.code !== 'LL_SOCKET_ERROR') {
          this.#lastError = error.message;
          this.log.add({ dir: 'sys', text: error.message, level: 'warn' });
        }
      }),
      client.on('drop', (drop) => this.log.add({ dir: 'sys', text: `not sent (${drop.reason}): ${preview(drop.data)}`, level: 'warn' })),
      client.on('heartbeat', (rtt) => this.metrics.addRtt(rtt, 'heartbeat')),
      client.on('reset', (reset) =>
        this.log.add({
          dir: 'sys',
          text: `session reset (${reset.reason}): ${reset.unconfirmed.length} message(s) sent before may not have arrived`,
          level: 'warn',
          tag: 'lifeline',
        }),
      ),
    );
    if (settings.lifeline) {
      this.#unsubscribe.push(
        client.on('message', (message) => {
          const data = message.data;
          // A string payload reads as the string; any other value as its JSON.
          if (data instanceof Uint8Array) this.log.add({ dir: 'in', bytes: data });
          else if (typeof data === 'string') this.log.add({ dir: 'in', text: data, kind: 'text' });
          else this.log.add({ dir: 'in', text: JSON.stringify(data) ?? 'null', kind: 'json' });
        }),
      );
    }
  }

  #logClose(info: CloseInfo, settings: ConnectionSettings): void {
    this.log.add({ dir: 'sys', text: describeClose(info, settings.reconnect), level: info.code === 1000 ? 'info' : info.action === 'stop' ? 'error' : 'warn' });
  }

  /**
   * An attempt ended before it opened. The handshake succeeded and Lifeline mode did not
   * start: the server does not speak it there, which will not change. Otherwise the browser
   * says only 1006, so this page's server is asked to make the same handshake (at most once
   * per RECHECK_MS of a run of failures); a definitive refusal stops auto-reconnect.
   */
  #failedAttempt(client: LifelineClient, info: CloseInfo, settings: ConnectionSettings, protocols: string[], attempt: { socketOpen: boolean; protocol: string }): void {
    const url = client.url || settings.url;
    if (attempt.socketOpen) {
      this.#logClose(info, settings);
      if (settings.lifeline) this.#refused(client, notLifelineSentence(url, attempt.protocol, this.#lastError));
      return;
    }
    this.#failedInARow++;
    const check = this.#check;
    const recheck = !check.running && Date.now() - check.at >= RECHECK_MS;
    const known = check.text ? `: ${check.text}` : '';
    const state = client.state;
    const next = state.status === 'reconnecting' && state.nextAttemptAt !== undefined ? `; attempt ${state.attempt} in ${Math.max(0, (state.nextAttemptAt - Date.now()) / 1000).toFixed(1)} s` : '';
    this.log.add({
      dir: 'sys',
      level: 'warn',
      text:
        this.#failedInARow === 1
          ? `could not open ${url}: a browser reports every failed handshake as 1006 and hides why${recheck ? '; asking this page’s server to make the same handshake' : ''}${next}`
          : `attempt ${state.attempt - (next ? 1 : 0)} could not open either${known}${next}`,
    });
    if (recheck) void this.#diagnose(client, url, settings.lifeline ? [LIFELINE_PROTOCOL] : protocols);
  }

  async #diagnose(client: LifelineClient, url: string, protocols: string[]): Promise<void> {
    const check = this.#check;
    check.running = true;
    check.at = Date.now();
    const diagnosis = await diagnose(url, protocols);
    check.running = false;
    if (client !== this.#client || this.#openNow) return;
    const text = failureSentence(url, diagnosis);
    check.text = diagnosis.known ? diagnosis.text : undefined;
    if (diagnosis.known && diagnosis.definitive) return this.#refused(client, text);
    this.failure.value = text;
    this.log.add({ dir: 'sys', text, level: 'warn' });
  }

  /** Stops auto-reconnect, since the same handshake would fail the same way, and says why (once, in the log and above it). */
  #refused(client: LifelineClient, why: string): void {
    const retrying = client.state.status !== 'closed';
    if (retrying) {
      this.#closing = 'refused';
      try {
        client.close();
      } finally {
        this.#closing = undefined;
      }
    }
    const text = retrying ? `${why} ${STOPPED_SENTENCE}` : why;
    this.failure.value = text;
    this.log.add({ dir: 'sys', text, level: 'error' });
  }

  /** Close for good (until Connect); the log stays. */
  disconnect(): void {
    const client = this.#client;
    if (!client) return;
    // A live link logs its own close (1000, "closed on purpose"); a client between attempts has none.
    const waiting = client.state.status === 'reconnecting';
    this.#closing = 'disconnect';
    try {
      client.close();
    } finally {
      this.#closing = undefined;
    }
    for (const off of this.#unsubscribe.splice(0)) off();
    this.#scope?.stop();
    this.#scope = undefined;
    this.#client = undefined;
    if (waiting) this.log.add({ dir: 'sys', text: 'stopped reconnecting: you disconnected' });
  }

  /**
   * Sends one message: queued by the client while not open. `tag` marks it in the log
   * (`periodic`, `auto-reply`, `burst`). Returns false when the client dropped it.
   */
  send(message: Outgoing, tag?: string): boolean {
    const client = this.#client;
    if (!client) return false;
    const lifelineMode = this.#active?.lifeline ?? false;
    const value = message.kind === 'binary' ? message.bytes : lifelineMode && message.kind === 'json' ? message.value : message.text;
    this.#sending = tag;
    let sent: boolean;
    try {
      sent = client.send(value);
    } catch (error) {
      this.log.add({ dir: 'sys', text: (error as Error).message, level: 'error' });
      return false;
    } finally {
      this.#sending = undefined;
    }
    if (lifelineMode && sent) {
      const entry: EntryInit =
        message.kind === 'binary'
          ? { dir: 'out', bytes: message.bytes, tag }
          : { dir: 'out', text: message.kind === 'json' ? JSON.stringify(message.value) : message.text, kind: message.kind === 'json' ? 'json' : 'text', tag };
      this.log.add(entry);
    }
    return sent;
  }

  /** A frame on the wire in raw mode: into the log, marked when it is a heartbeat. */
  #wire(direction: 'in' | 'out', data: string | ArrayBuffer, settings: ConnectionSettings): void {
    if (typeof data === 'string') {
      const heartbeat =
        settings.heartbeat &&
        ((direction === 'out' && this.#sending === undefined && data === settings.heartbeatMessage) || (direction === 'in' && settings.heartbeatReply !== '' && data === settings.heartbeatReply));
      this.log.add({ dir: direction, text: data, tag: heartbeat ? 'heartbeat' : this.#sending });
    } else {
      this.log.add({ dir: direction, bytes: new Uint8Array(data), tag: this.#sending });
    }
  }

  #measure(entry: LogEntry): void {
    if (entry.dir === 'sys') return;
    const metrics = this.metrics;
    metrics.count(entry.dir, entry.at);
    if (entry.tag === 'heartbeat' || entry.tag === 'burst') return;
    const key = entry.bytes ? `b${entry.size}:${toHex(entry.bytes, 32)}` : `t${entry.text}`;
    if (entry.dir === 'out') metrics.sent(key, entry.at);
    else {
      const rtt = metrics.received(key, entry.at);
      if (rtt !== undefined) metrics.addRtt(rtt, 'echo', entry.at);
    }
  }

  dispose(): void {
    this.disconnect();
  }
}

function preview(value: unknown): string {
  if (value instanceof Uint8Array) return `${value.length} bytes: ${toHex(value, 16)}`;
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 80 ? `${text.slice(0, 80)}…` : text;
}
