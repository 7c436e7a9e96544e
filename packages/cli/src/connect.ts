import { readFileSync } from 'node:fs';
import { createInterface, type Interface } from 'node:readline';
import { createClient, defaultCloseAction, LifelineError, toWebSocketUrl, type CloseInfo, type LifelineClient, type ResetInfo, type SessionInfo } from '@lifeline/client';
import { lifeline } from '@lifeline/client/lifeline';
import { msgpackFormat } from '@lifeline/client/msgpack';
import { describeCloseCode, describeHandshake, LIFELINE_JSON_PROTOCOL, LIFELINE_MSGPACK_PROTOCOL } from '@lifeline/protocol';
import { connectHelp, EXIT, parseConnectArgs, PROMPT_COMMANDS, type ConnectConfig } from './connect-options.js';
import { optionTable } from './help.js';
import { Display, parseHex, type Incoming } from './connect-output.js';
import { closed, tappedWebSocket, type SocketTap } from './connect-socket.js';
import { parseScript, ScriptRun, type Script, type ScriptMessage, type ScriptSend, type StepResult } from './script.js';

/** Close codes after which a connection counts as having ended cleanly (exit 0). */
const CLEAN_CODES = new Set([1000, 1001, 1005]);
/** Piped input waits while this much is unsent on the socket, so a fast pipe cannot fill memory. */
const HIGH_WATER_BYTES = 1 << 20;
/** How long exiting waits for the server to answer our close frame. */
const CLOSE_WAIT_MS = 2000;
const PROMPT = '> ';
/**
 * Lifeline mode reconnects a lost link even without --reconnect (resuming is the point of
 * the mode), giving up after this many failed attempts in a row: about as long as a
 * server keeps a session (2 minutes by default).
 */
const LIFELINE_ATTEMPTS = 10;
/** Errors the close line already explains; others (Lifeline mode's) are shown as they come. */
const EXPLAINED_ERRORS = new Set(['LL_SOCKET_ERROR', 'LL_CONNECT_TIMEOUT', 'LL_HEARTBEAT_TIMEOUT']);

/**
 * `lifeline connect <url> [options]`: resolves with the exit status (see EXIT). Bad
 * usage throws LifelineError `LL_CONFIG`, which the caller turns into status 2.
 */
export async function connectCommand(args: readonly string[]): Promise<number> {
  const config = parseConnectArgs(args, !!process.stdout.isTTY);
  if (config === 'help') {
    process.stdout.write(connectHelp());
    return EXIT.ok;
  }
  try {
    config.url = toWebSocketUrl(config.url);
  } catch (error) {
    throw new LifelineError('LL_CONFIG', (error as Error).message);
  }
  return new Connection(config, config.script === undefined ? undefined : readScript(config.script)).run();
}

/** Reads and checks a --script file; a bad one is bad usage (exit 2), said with the step at fault. */
function readScript(path: string): Script {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new LifelineError('LL_CONFIG', `--script ${path}: ${(error as Error).message}`);
  }
  try {
    return parseScript(text);
  } catch (error) {
    throw new LifelineError('LL_CONFIG', `--script ${path}: ${(error as Error).message}`);
  }
}

type InputMode = 'script' | 'pipe' | 'interactive';

class Connection {
  readonly #config: ConnectConfig;
  readonly #display: Display;
  readonly #tap: SocketTap = { current: undefined, refused: undefined };
  readonly #mode: InputMode;
  #client!: LifelineClient;
  #rl: Interface | undefined;
  #everOpened = false;
  #openNow = false;
  /** We closed (end of input, /quit, /close, a signal): the exit status is ours to give. */
  #ours = false;
  /** All input has been sent (or handed to the client): the --wait countdown may start. */
  #inputDone = false;
  #waitTimer: ReturnType<typeof setTimeout> | undefined;
  #lastError: LifelineError | undefined;
  #pingAt = 0;
  #finished = false;
  #resolve!: (status: number) => void;
  readonly #script: Script | undefined;
  #scriptRun: ScriptRun | undefined;
  #scriptFailed = false;

  constructor(config: ConnectConfig, script?: Script) {
    this.#config = config;
    this.#script = script;
    this.#mode = config.send.length || script ? 'script' : process.stdin.isTTY ? 'interactive' : 'pipe';
    this.#display = new Display({
      terminal: !!process.stdout.isTTY,
      timestamps: config.timestamps,
      color: config.color,
      json: config.json,
      quiet: config.quiet,
    });
  }

  run(): Promise<number> {
    const done = new Promise<number>((resolve) => (this.#resolve = resolve));
    const c = this.#config;
    this.#tap.onPong = () => this.#pong();
    const mode = c.lifeline && lifeline(c.lifeline === 'msgpack' ? { format: msgpackFormat } : {});
    this.#client = createClient(c.url, {
      ...(mode ? { mode } : { protocols: c.subprotocols, heartbeat: c.heartbeat === undefined ? false : { interval: c.heartbeat } }),
      connectTimeout: c.connectTimeout,
      // A terminal tool exits on a refused connection unless asked to keep trying.
      reconnect: c.reconnect !== undefined ? { maxAttempts: c.reconnect } : mode ? { maxAttempts: LIFELINE_ATTEMPTS } : false,
      closePolicy: ({ code }) => (this.#everOpened || c.reconnect !== undefined ? defaultCloseAction(code) : 'stop'),
      WebSocket: tappedWebSocket(c.headers, this.#tap),
      browserEvents: false,
      autoOpen: false,
    });
    const client = this.#client;
    client.on('open', (info) => this.#opened(info.protocol, info.session));
    client.on('message', (m) => {
      this.#display.incoming(incoming(m), m.receivedAt);
      this.#scriptRun?.receive(scriptMessage(m));
    });
    client.on('reset', (info) => this.#reset(info));
    client.on('close', (info) => this.#closed(info));
    client.on('error', (error) => {
      this.#lastError = error;
      // Before the first open, the error is the reason the connect failed: said once, there.
      if (this.#openNow && !EXPLAINED_ERRORS.has(error.code)) this.#display.warn(error.message);
    });
    client.on('drop', (d) => this.#display.warn(`not sent (${d.reason}): ${d.data instanceof Uint8Array ? `${d.data.length} bytes` : showJson(d.data)}`));
    client.on('state', (state) => state.status === 'closed' && void this.#finish());
    this.#signals();
    if (this.#mode === 'interactive') this.#interactive();
    else if (this.#mode === 'pipe') void this.#pipe();
    this.#display.status(`connecting to ${c.url} (offering ${this.#offered().join(', ') || 'no subprotocol'})`);
    client.open();
    return done;
  }

  // ---- connection events -----------------------------------------------------------

  #opened(protocol: string, session: SessionInfo | undefined): void {
    const first = !this.#everOpened;
    this.#everOpened = this.#openNow = true;
    this.#lastError = undefined;
    const hint = first && this.#mode === 'interactive' ? ' — type a message, /help for commands' : '';
    this.#display.status(`connected to ${this.#client.url}${protocol ? ` (subprotocol ${protocol})` : ''}${hint}`);
    if (session) {
      this.#display.status(session.resumed ? `session ${session.id} resumed: nothing lost either way` : `session ${session.id} started`);
    }
    if (first && this.#script) {
      void this.#runScript(this.#script);
      return;
    }
    if (first && this.#mode === 'script') {
      for (const text of this.#config.send) this.#send({ text });
      this.#inputDone = true;
    }
    if (this.#inputDone) this.#startWait();
  }

  #closed(info: CloseInfo): void {
    const wasOpen = this.#openNow;
    this.#openNow = false;
    if (this.#ours) {
      this.#display.status(`closed (${info.code}${info.reason ? ` ${info.reason}` : ''})`);
      return;
    }
    const what = wasOpen
      ? `${info.code === 1006 ? 'connection lost' : 'closed by the server'}: ${describeClose(info)}`
      : `could not connect to ${this.#client.url}: ${this.#connectFailure()}`;
    const s = this.#client.state;
    if (s.status === 'reconnecting') {
      const secs = ((s.nextAttemptAt ?? Date.now()) - Date.now()) / 1000;
      this.#display.warn(`${what}; reconnecting in ${Math.max(0, secs).toFixed(1)} s (attempt ${s.attempt})`);
    } else if (this.#exitStatus() === EXIT.ok) {
      this.#display.status(what);
    } else {
      this.#display.fail(s.error ? `${what}; ${s.error.message}` : what);
    }
  }

  /** The server could not resume (Lifeline mode): what the person must know to resynchronise. */
  #reset(info: ResetInfo): void {
    const lost = info.unconfirmed.length;
    this.#display.warn(
      `session reset (${info.reason}): the server could not resume the session and started ${info.session.id}` +
        (lost ? `; ${lost} message${lost === 1 ? '' : 's'} sent before may not have arrived` : ''),
    );
  }

  /** The subprotocols we offer: Lifeline mode's, or --subprotocol's. */
  #offered(): string[] {
    const format = this.#config.lifeline;
    return format ? [format === 'msgpack' ? LIFELINE_MSGPACK_PROTOCOL : LIFELINE_JSON_PROTOCOL] : this.#config.subprotocols;
  }

  /** The refusal in words: the server's HTTP answer, or what the network said (describeHandshake, shared with the console). */
  #connectFailure(): string {
    const context = { url: this.#client.url, offered: this.#offered() };
    const refused = this.#tap.refused;
    if (refused) return describeHandshake({ kind: 'refused', ...refused }, context).text;
    const error = this.#lastError;
    if (!error) return 'the connection closed before it opened';
    if (error.code === 'LL_CONNECT_TIMEOUT') return `${describeHandshake({ kind: 'timeout', ms: this.#config.connectTimeout }, context).text} (--connect-timeout)`;
    if (error.code !== 'LL_SOCKET_ERROR') {
      // The socket opened but the greeting went wrong: in Lifeline mode, a raw server that
      // accepted the subprotocol without speaking it.
      return this.#config.lifeline ? `the server does not speak Lifeline mode here: ${error.message}` : error.message;
    }
    const cause = error.cause as NodeJS.ErrnoException | undefined;
    const message = (cause?.message ?? error.message).replace(/^WebSocket error on \S+: /, '');
    const upgraded = this.#tap.upgraded;
    if (upgraded) {
      // 101, and then the client dropped it: the subprotocol, or a broken handshake.
      const lifelineHint = this.#config.lifeline ? '; is this a Lifeline route? (without --lifeline any WebSocket server works)' : '';
      return describeHandshake({ kind: 'accepted', protocol: upgraded.protocol, problem: message }, context).text + lifelineHint;
    }
    return describeHandshake({ kind: 'network', code: cause?.code ?? '', message }, context).text;
  }

  #exitStatus(): number {
    if (!this.#everOpened) return EXIT.connectFailed;
    if (this.#scriptFailed) return EXIT.expectationFailed;
    if (this.#ours) return EXIT.ok;
    const last = this.#client.state.lastClose;
    return last && CLEAN_CODES.has(last.code) ? EXIT.ok : EXIT.abnormal;
  }

  /** The client stopped for good: put the terminal back, let our close frame go out, exit. */
  async #finish(): Promise<void> {
    if (this.#finished) return;
    this.#finished = true;
    clearTimeout(this.#waitTimer);
    // The link ended mid-script: what is left cannot pass.
    if (this.#scriptRun) {
      this.#scriptRun.cancel();
      this.#scriptFailed = true;
    }
    // Let the close event (printed in #closed) run first: state changes before it.
    await new Promise((resolve) => setImmediate(resolve));
    const status = this.#exitStatus();
    if (this.#rl) {
      this.#display.detachPrompt();
      this.#rl.close();
    }
    await closed(this.#tap.current, CLOSE_WAIT_MS);
    this.#resolve(status);
  }

  // ---- --script ---------------------------------------------------------------------

  /** Runs the script, says how each step went (stderr when not a terminal), then closes. */
  async #runScript(script: Script): Promise<void> {
    const run = new ScriptRun(script, {
      send: (s) => this.#sendScripted(s),
      result: (r) => this.#stepDone(r),
    });
    this.#scriptRun = run;
    const results = await run.run();
    if (this.#scriptRun !== run) return;
    this.#scriptRun = undefined;
    if (this.#finished) return;
    const failed = results.find((r) => !r.ok);
    this.#scriptFailed = failed !== undefined;
    const name = script.name ? ` "${script.name}"` : '';
    if (failed) this.#display.fail(`script${name} failed at step ${failed.step} of ${script.steps.length}`);
    else this.#report(`script${name}: all ${script.steps.length} steps passed`);
    this.#quit();
  }

  #stepDone(r: StepResult): void {
    const text = `${r.ok ? '✓' : '✗'} step ${r.step}: ${r.description} (${r.ms} ms)${r.detail ? ` — ${r.detail}` : ''}`;
    if (r.ok) this.#report(text);
    else this.#display.fail(text);
  }

  /** A passing step or result: a status line at a terminal, a `lifeline:` line on stderr otherwise (hidden by --quiet). */
  #report(text: string): void {
    if (process.stdout.isTTY) this.#display.status(text);
    else this.#display.warn(text);
  }

  #sendScripted(send: ScriptSend): void {
    if (typeof send === 'string' || 'text' in send) {
      const text = typeof send === 'string' ? send : send.text;
      this.#client.send(text);
      this.#display.sent({ text });
    } else if ('json' in send) {
      // Lifeline mode carries the value itself; raw mode its JSON text.
      this.#client.send(this.#config.lifeline ? send.json : JSON.stringify(send.json));
      this.#display.sent({ text: JSON.stringify(send.json) });
    } else {
      const bytes = 'hex' in send ? parseHex(send.hex) : Buffer.from(send.base64, 'base64');
      if (!bytes) throw new Error(`${JSON.stringify(send)}: not whole bytes of hex`);
      this.#send({ bytes });
    }
  }

  // ---- sending -------------------------------------------------------------------

  #send(message: Incoming, typed?: string): void {
    // Lifeline mode carries JSON values: a line that is JSON goes as that value, any other as a string.
    this.#client.send('bytes' in message ? message.bytes : this.#config.lifeline ? jsonOrText(message.text) : message.text);
    if (typed === undefined) this.#display.sent(message);
    else this.#display.replaceTyped(PROMPT, typed, message);
  }

  /** Close with `code` (ours: the exit status is 0 if we ever connected). */
  #quit(code = 1000, reason = ''): void {
    if (this.#finished) return;
    // Set before close(): the close and state events it emits read it.
    this.#ours = true;
    try {
      this.#client.close(code, reason);
    } catch (error) {
      this.#ours = false; // a code or reason the client will not send: nothing happened
      throw error;
    }
    void this.#finish();
  }

  #startWait(): void {
    const wait = this.#config.wait;
    if (this.#waitTimer !== undefined || wait < 0) return;
    this.#waitTimer = setTimeout(() => this.#quit(), wait * 1000);
  }

  #signals(): void {
    let seen = false;
    const onSignal = (signal: NodeJS.Signals) => {
      // A second signal means "now": do not wait for the close handshake.
      if (seen || this.#finished) process.exit(signal === 'SIGINT' ? 130 : 143);
      seen = true;
      this.#quit();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }

  // ---- input -----------------------------------------------------------------------

  /** Piped stdin: every line is one message; then listen --wait seconds and close. */
  async #pipe(): Promise<void> {
    const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
    for await (const line of lines) {
      if (!(await this.#ready())) break;
      this.#send({ text: line });
    }
    lines.close();
    if (this.#finished) return;
    this.#inputDone = true;
    if (this.#openNow) this.#startWait();
  }

  /**
   * Resolves true once a line can go out: connected, nothing waiting in the client's outbox
   * (in Lifeline mode, a full replay buffer makes messages wait there) and the socket not
   * backed up; false when the client has stopped. Waiting here, not in the client's bounded
   * outbox, pauses the pipe instead of dropping lines.
   */
  async #ready(): Promise<boolean> {
    for (;;) {
      const client = this.#client;
      if (this.#finished || client.state.status === 'closed') return false;
      if (client.state.status === 'open' && client.queued === 0 && (this.#tap.current?.bufferedAmount ?? 0) < HIGH_WATER_BYTES) return true;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  #interactive(): void {
    // The prompt goes where a person sees it even if stdout is redirected.
    const output = process.stdout.isTTY ? process.stdout : process.stderr;
    const rl = createInterface({ input: process.stdin, output, prompt: PROMPT, historySize: 1000, terminal: !!output.isTTY });
    this.#rl = rl;
    this.#display.attachPrompt(rl, output);
    rl.on('line', (line) => {
      try {
        this.#command(line);
      } catch (error) {
        this.#display.warn((error as Error).message);
      }
      if (!this.#finished) rl.prompt();
    });
    rl.on('close', () => this.#quit()); // Ctrl-D
    rl.on('SIGINT', () => this.#quit()); // Ctrl-C in raw mode
    rl.prompt();
  }

  #command(line: string): void {
    if (line === '') return;
    if (!line.startsWith('/') || line.startsWith('//')) {
      this.#send({ text: line.startsWith('//') ? line.slice(1) : line }, line);
      return;
    }
    const [name = '', ...words] = line.slice(1).split(' ');
    const rest = words.join(' ');
    switch (name) {
      case 'quit':
      case 'exit':
        return this.#quit();
      case 'close': {
        const code = words[0] ? Number(words[0]) : 1000;
        if (!Number.isInteger(code)) throw new Error(`/close ${words[0]}: the code is a number, 1000 or 3000-4999.`);
        return this.#quit(code, words.slice(1).join(' '));
      }
      case 'ping': {
        const ws = this.#tap.current;
        if (!ws || ws.readyState !== ws.OPEN) throw new Error('/ping: not connected.');
        this.#pingAt = Date.now();
        ws.ping(rest);
        return;
      }
      case 'binary': {
        const bytes = parseHex(rest);
        if (!bytes) throw new Error(`/binary takes hex digits, whole bytes: /binary 00ff10 (not "${rest}").`);
        return this.#send({ bytes }, line);
      }
      case 'request': {
        const [requestName, ...data] = words;
        if (!this.#config.lifeline) throw new Error('/request needs Lifeline mode (--lifeline).');
        if (!requestName) throw new Error('/request NAME [JSON], e.g. /request echo {"a":1}');
        this.#request(requestName, data.length ? jsonOrText(data.join(' ')) : undefined);
        return;
      }
      case 'help':
        return this.#display.status(`commands:\n${optionTable(PROMPT_COMMANDS)}`);
      default:
        throw new Error(`unknown command /${name}; /help lists the commands, //${name} sends "/${name}".`);
    }
  }

  #request(name: string, data: unknown): void {
    this.#client.request(name, data).then(
      (value) => this.#display.incoming(incoming({ data: value }), Date.now(), `response to ${name}: `),
      (error: Error) => this.#display.warn(`request ${name}: ${error.message}`),
    );
  }

  #pong(): void {
    if (!this.#pingAt) return; // the heartbeat's own pings
    this.#display.status(`pong after ${Date.now() - this.#pingAt} ms`);
    this.#pingAt = 0;
  }
}

/** What to show of a message: raw mode has its text or bytes; Lifeline mode a JSON value or bytes. */
function incoming(m: { text?: string; bytes?: Uint8Array; data: unknown }): Incoming {
  if (m.bytes) return { bytes: m.bytes };
  if (m.text !== undefined) return { text: m.text };
  if (m.data instanceof Uint8Array) return { bytes: m.data };
  return { text: showJson(m.data) };
}

/**
 * The JSON text of a value a peer sent. A hostile server can send a value nested too deep for
 * JSON.stringify (a RangeError): say so instead of ending the process.
 */
function showJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? 'null';
  } catch (error) {
    return `(a value that cannot be shown as JSON: ${(error as Error).message})`;
  }
}

/** A received message as a script matches it: in Lifeline mode the payload value too. */
function scriptMessage(m: { text?: string; bytes?: Uint8Array; data: unknown }): ScriptMessage {
  if (m.bytes) return { bytes: m.bytes };
  if (m.text !== undefined) return { text: m.text };
  if (m.data instanceof Uint8Array) return { bytes: m.data };
  return { value: m.data, text: typeof m.data === 'string' ? m.data : showJson(m.data) };
}

/** The JSON value `text` spells, else `text` itself. */
function jsonOrText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** `1008 policy violation: … (reason "too fast")` */
export function describeClose(info: { code: number; reason: string }): string {
  return `${info.code} ${describeCloseCode(info.code)}${info.reason ? ` (reason "${info.reason}")` : ''}`;
}
