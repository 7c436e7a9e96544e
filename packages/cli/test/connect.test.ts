import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import type { IncomingMessage } from 'node:http';
import { createServer } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { CONNECT_OPTIONS, parseConnectArgs, PROMPT_COMMANDS } from '../src/connect-options.js';
import { startChaosProxy, type ChaosProxy } from '../../../test/support/chaos-proxy.js';
import { CLI, NO_RATE_LIMIT_ARGS, spawnServe, stopProcess, type ServeProcess } from '../../../test/support/servers.js';
import { waitFor } from '../../../test/support/wait.js';

/**
 * `lifeline connect` as a user runs it: its own process, real sockets on 127.0.0.1, stdin
 * and stdout as pipes (scripts) or a pseudo-terminal (a person at the prompt), against
 * `lifeline serve` and against a bare `ws` server that records what it saw.
 */

interface Proc {
  child: ChildProcess;
  out: string;
  err: string;
  exited: Promise<number | string>;
}

const procs: Proc[] = [];
const servers: WebSocketServer[] = [];
let serve: ServeProcess | undefined;
let proxy: ChaosProxy | undefined;

afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => stopProcess(p)));
  await proxy?.close();
  proxy = undefined;
  await stopProcess(serve);
  serve = undefined;
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => {
    for (const ws of s.clients) ws.terminate();
    s.close(resolve);
  })));
});

/** Each process gets this long before the test kills it (by its PID) and fails. */
const PROCESS_LIMIT_MS = 30_000;

function track(child: ChildProcess): Proc {
  const proc: Proc = { child, out: '', err: '', exited: undefined! };
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (proc.out += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (proc.err += s));
  const timer = setTimeout(() => child.kill('SIGKILL'), PROCESS_LIMIT_MS);
  proc.exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? signal ?? -1);
    }),
  );
  procs.push(proc);
  return proc;
}

/** `lifeline connect ARGS` with stdin, stdout and stderr as pipes. */
function startConnect(args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  return track(spawn(process.execPath, [CLI, 'connect', ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } }));
}

/** Runs to the end with `stdin` piped in (then closed). */
async function runConnect(args: string[], stdin = ''): Promise<{ code: number | string; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  const proc = startConnect(args);
  proc.child.stdin!.end(stdin);
  const code = await proc.exited;
  return { code, stdout: proc.out, stderr: proc.err, ms: Date.now() - started };
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * `lifeline connect ARGS` in a pseudo-terminal made by util-linux `script`: stdin and
 * stdout are a TTY, as for a person. What we write is typed; `out` is the screen's bytes.
 */
function startInTerminal(args: string[]): Proc {
  const command = [process.execPath, CLI, 'connect', ...args].map(quote).join(' ');
  return track(spawn('/usr/bin/script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, TERM: 'xterm' } }));
}

// eslint-disable-next-line no-control-regex
const plain = (s: string) => s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
const TIME = String.raw`\d\d:\d\d:\d\d\.\d\d\d`;

interface Bare {
  url: string;
  requests: IncomingMessage[];
  /** Close codes the server received from clients. */
  closes: number[];
  pings: number;
}

/** A plain `ws` server on a free port; `onConnection` decides what it does. */
async function startBare(onConnection: (ws: WebSocket, request: IncomingMessage, index: number) => void, options: ConstructorParameters<typeof WebSocketServer>[0] = {}): Promise<Bare> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', ...options });
  servers.push(wss);
  const bare: Bare = { url: '', requests: [], closes: [], pings: 0 };
  wss.on('connection', (ws, request) => {
    bare.requests.push(request);
    ws.on('close', (code) => bare.closes.push(code));
    ws.on('ping', () => bare.pings++);
    onConnection(ws, request, bare.requests.length);
  });
  await new Promise((resolve) => wss.once('listening', resolve));
  bare.url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}`;
  return bare;
}

const echo = (ws: WebSocket) => ws.on('message', (data, binary) => ws.send(data, { binary }));

/** A port on which nothing listens. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('lifeline connect in scripts (stdin and stdout are pipes)', () => {
  it('sends each stdin line to lifeline serve /echo, prints each echo on its own line, exits 0', async () => {
    serve = await spawnServe();
    const { code, stdout, stderr } = await runConnect([serve.wsUrl('/echo'), '--wait', '3'], 'one\ntwo ✓\n{"n":3}\n');
    expect(stderr).toBe('');
    expect(stdout).toBe('one\ntwo ✓\n{"n":3}\n');
    expect(code).toBe(0);
  });

  it('pipes many lines in order without losing any', async () => {
    const bare = await startBare(echo);
    const lines = Array.from({ length: 2000 }, (_, i) => `line ${i}`);
    const { code, stdout } = await runConnect([bare.url, '--wait', '5'], lines.join('\n') + '\n');
    expect(stdout.split('\n').slice(0, -1)).toEqual(lines);
    expect(code).toBe(0);
    expect(bare.closes).toEqual([1000]);
  });

  it('--send MSG (repeatable) against the seed route, then --wait seconds, then a clean close', async () => {
    serve = await spawnServe();
    const { code, stdout, stderr } = await runConnect([serve.wsUrl('/test'), '--send', '123', '-x', 'say "hi"', '--wait', '3']);
    expect(stdout).toBe('111111111\n"123"\n111111111\n"say \\"hi\\""\n111111111\n');
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  it('--wait: listens that long after sending; 0 closes at once; -1 until the server closes', async () => {
    // Answers 600 ms late; a second message closes with 1000.
    const bare = await startBare((ws) =>
      ws.on('message', (data) => (String(data) === 'bye' ? ws.close(1000) : setTimeout(() => ws.send(`late ${data}`), 600))),
    );
    const soon = await runConnect([bare.url, '--send', 'a', '--wait', '0']);
    expect(soon.stdout).toBe('');
    expect(soon.code).toBe(0);
    const long = await runConnect([bare.url, '--send', 'b', '--wait', '4']);
    expect(long.stdout).toBe('late b\n');
    expect(long.ms).toBeGreaterThanOrEqual(4000);
    const forever = await runConnect([bare.url, '--send', 'c', '--send', 'bye', '--wait', '-1']);
    expect(forever.code).toBe(0); // the server's 1000
    expect(bare.closes).toEqual([1000, 1000, 1000]);
  });

  it('--json pretty-prints JSON; text that is not JSON goes to stderr, marked', async () => {
    const bare = await startBare((ws) => {
      ws.send('{"a":[1,2],"b":"x"}');
      ws.send('plain words');
      ws.send('7');
    });
    const { code, stdout, stderr } = await runConnect([bare.url, '--json', '--wait', '3']);
    expect(stdout).toBe('{\n  "a": [\n    1,\n    2\n  ],\n  "b": "x"\n}\n7\n');
    expect(stderr).toBe('(not JSON) plain words\n');
    expect(code).toBe(0);
  });

  it('shows binary messages as hex with their length', async () => {
    const bare = await startBare((ws) => ws.send(Buffer.from([0, 255, 16])));
    const { stdout } = await runConnect([bare.url, '--wait', '3']);
    expect(stdout).toBe('binary 3 bytes: 00 ff 10\n');
  });

  it('--timestamps prefixes each message with HH:MM:SS.mmm', async () => {
    const bare = await startBare((ws) => ws.send('tick'));
    const { stdout } = await runConnect([bare.url, '-t', '--wait', '3']);
    expect(stdout).toMatch(new RegExp(`^${TIME} tick\\n$`));
  });

  it('--header sends HTTP headers with the upgrade request', async () => {
    const bare = await startBare((ws) => ws.close());
    const { code } = await runConnect([bare.url + '/private', '-H', 'Authorization: Bearer abc', '--header', 'X-Trace:42', '--wait', '-1']);
    expect(code).toBe(0);
    expect(bare.requests[0]!.url).toBe('/private');
    expect(bare.requests[0]!.headers).toMatchObject({ authorization: 'Bearer abc', 'x-trace': '42' });
  });

  it('--subprotocol offers subprotocols; one the server does not take fails the connection (exit 1)', async () => {
    const bare = await startBare((ws) => ws.close(), {
      handleProtocols: (offered) => (offered.has('chat.v2') ? 'chat.v2' : false),
    });
    const taken = await runConnect([bare.url, '-s', 'chat.v1', '--subprotocol', 'chat.v2', '--wait', '-1']);
    expect(taken.code).toBe(0);
    expect(bare.requests[0]!.headers['sec-websocket-protocol']).toBe('chat.v1,chat.v2');
    const refused = await runConnect([bare.url, '--subprotocol', 'chat.v9']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/could not connect to .*subprotocol.*\(offered: chat\.v9\)/);
  });

  it('--heartbeat MS sends protocol pings while the link is silent', async () => {
    const bare = await startBare(() => {});
    const { code } = await runConnect([bare.url, '--heartbeat', '100', '--wait', '3']);
    expect(code).toBe(0);
    expect(bare.pings).toBeGreaterThanOrEqual(3);
  });

  it('SIGINT closes cleanly with 1000 and exits 0', async () => {
    const bare = await startBare((ws) => ws.send('hello'));
    const proc = startConnect([bare.url, '--wait', '-1']);
    await waitFor(() => proc.out === 'hello\n', 'the greeting');
    proc.child.kill('SIGINT');
    expect(await proc.exited).toBe(0);
    await waitFor(() => bare.closes.length === 1, 'the close at the server');
    expect(bare.closes).toEqual([1000]);
  });
});

describe('lifeline connect exit statuses', () => {
  it('1 when nothing listens, saying so', async () => {
    const port = await freePort();
    const { code, stdout, stderr } = await runConnect([`ws://127.0.0.1:${port}/echo`, '--send', 'x']);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toBe(`lifeline: could not connect to ws://127.0.0.1:${port}/echo: connection refused: nothing listens on 127.0.0.1:${port}\n`);
  });

  it('1 when the server refuses the upgrade, with its HTTP status and what it said', async () => {
    serve = await spawnServe();
    const { code, stderr } = await runConnect([serve.wsUrl('/nope')]);
    expect(code).toBe(1);
    expect(stderr).toContain('could not connect to ws://127.0.0.1');
    expect(stderr).toContain('404 Not Found: No WebSocket route at /nope. Known WebSocket routes: /test, /echo, /results.');
  });

  it('3 when the server closes with 1008, naming the code and the reason', async () => {
    const bare = await startBare((ws) => ws.on('message', () => ws.close(1008, 'no swearing')));
    const { code, stderr } = await runConnect([bare.url, '--send', 'darn', '--wait', '5']);
    expect(code).toBe(3);
    expect(stderr).toContain('closed by the server: 1008 policy violation');
    expect(stderr).toContain('(reason "no swearing")');
  });

  it('3 when the connection drops without a close frame (1006)', async () => {
    const bare = await startBare((ws) => ws.on('message', () => ws.terminate()));
    const { code, stderr } = await runConnect([bare.url, '--send', 'x', '--wait', '5']);
    expect(code).toBe(3);
    expect(stderr).toContain('connection lost: 1006');
  });

  it('0 when the server closes with 1001 going away', async () => {
    const bare = await startBare((ws) => ws.close(1001, 'shutting down'));
    const { code, stderr } = await runConnect([bare.url, '--wait', '-1']);
    expect(code).toBe(0);
    expect(stderr).toBe('');
  });

  it('--reconnect follows a retryable close, then reports how it ended', async () => {
    // First connection: "restarting" with a short retry-after hint; second: a policy close.
    const bare = await startBare((ws, _request, index) => {
      if (index === 1) ws.close(1012, 'restart; retry-after=50');
      else {
        ws.send(`welcome back (${index})`);
        setTimeout(() => ws.close(1008, 'enough'), 100);
      }
    });
    const { code, stdout, stderr } = await runConnect([bare.url, '--reconnect', '--send', 'x', '--wait', '5']);
    expect(bare.requests.length).toBe(2);
    expect(stdout).toBe('welcome back (2)\n');
    expect(stderr).toMatch(/closed by the server: 1012 service restart.*reconnecting in \d\.\d s \(attempt \d\)/);
    expect(stderr).toContain('closed by the server: 1008 policy violation');
    expect(code).toBe(3);
  });

  it('2 for bad usage, with what to write instead', async () => {
    const cases: [string[], string][] = [
      [[], 'Missing the URL'],
      [['localhost:5000/echo'], 'ws://'],
      [['ftp://x/'], 'has the scheme ftp:'],
      [['ws://x/', '--wiat', '1'], 'Unknown option --wiat'],
      [['ws://x/', '--wait', 'soon'], '--wait must be a number of seconds'],
      [['ws://x/', '--header', 'nocolon'], 'write "Name: value"'],
      [['ws://x/', '--reconnect', '0'], '--reconnect must be a whole number of attempts ≥ 1'],
      [['ws://x/', 'ws://y/'], 'One URL expected'],
      [['ws://x/', '--send'], '--send needs a value'],
      [['ws://x/', '--lifeline', 'xml'], 'One URL expected'],
      [['ws://x/', '--lifeline=xml'], '--lifeline takes json|msgpack or nothing'],
      [['ws://x/', '--lifeline', '-s', 'chat'], '--subprotocol and --lifeline do not go together'],
    ];
    const results = await Promise.all(cases.map(([args]) => runConnect(args)));
    for (const [i, [args, message]] of cases.entries()) {
      expect([args, results[i]!.code]).toEqual([args, 2]);
      expect(results[i]!.stderr).toContain(message);
    }
  }, 180_000); // twelve CLI processes at once; over 30 s at load 20

  it('options with an optional value take the next argument only if it fits', () => {
    const parse = (...args: string[]) => parseConnectArgs(args, false);
    expect(parse('--reconnect', 'ws://x/')).toMatchObject({ url: 'ws://x/', reconnect: Infinity });
    expect(parse('-r', '5', 'ws://x/')).toMatchObject({ url: 'ws://x/', reconnect: 5 });
    expect(parse('ws://x/', '--heartbeat')).toMatchObject({ heartbeat: 25_000 });
    expect(parse('ws://x/', '--heartbeat=500')).toMatchObject({ heartbeat: 500 });
    expect(parse('-L', 'msgpack', 'ws://x/')).toMatchObject({ url: 'ws://x/', lifeline: 'msgpack' });
    expect(parse('--lifeline', 'ws://x/')).toMatchObject({ url: 'ws://x/', lifeline: 'json' });
    expect(parse('ws://x/', '--wait', '-1', '--send', '-x', '-x', 'y')).toMatchObject({ wait: -1, send: ['-x', 'y'] });
    expect(parse('ws://x/', '-H', 'A: b: c', '-H', 'D:e')).toMatchObject({ headers: { A: 'b: c', D: 'e' } });
    expect(parse('ws://x/', '-h')).toBe('help');
  });

  it('--help documents every option with its default, the prompt commands and the exit statuses', async () => {
    const { code, stdout } = await runConnect(['--help']);
    expect(code).toBe(0);
    const flat = stdout.replace(/\s+/g, ' '); // wrapped to the terminal's width
    for (const option of CONNECT_OPTIONS) {
      expect(flat).toContain(`--${option.flag}`);
      expect(flat).toContain(`(default: ${option.default.replace(/\s+/g, ' ')})`);
    }
    for (const [command] of PROMPT_COMMANDS) expect(flat).toContain(command);
    for (const status of ['0 connected', '1 could not connect', '2 bad usage', '3 the connection ended', '4 --script: a step failed']) expect(flat).toContain(status);
    expect(stdout.split('\n').filter((line) => [...line].length > 80)).toEqual([]);
  });
});

describe('lifeline connect at a terminal (pseudo-terminal)', () => {
  it('prompt: typed lines are sent and echoed with time and direction; /binary, /ping, /quit', async () => {
    serve = await spawnServe();
    const term = startInTerminal([serve.wsUrl('/echo')]);
    const screen = () => plain(term.out);
    await waitFor(() => screen().includes('type a message, /help for commands'), 'the connected line', 10_000);
    term.child.stdin!.write('hello there\r');
    await waitFor(() => new RegExp(`${TIME} < hello there`).test(screen()), 'the echo');
    expect(screen()).toMatch(new RegExp(`${TIME} > hello there`));
    term.child.stdin!.write('/binary 00ff10\r');
    await waitFor(() => new RegExp(`${TIME} < binary 3 bytes: 00 ff 10`).test(screen()), 'the binary echo');
    term.child.stdin!.write('/ping\r');
    await waitFor(() => /\* pong after \d+ ms/.test(screen()), 'the pong');
    term.child.stdin!.write('/quit\r');
    expect(await term.exited).toBe(0);
    expect(screen()).toMatch(/\* closed \(1000\)/);
  });

  it('a message that arrives while typing is printed above the prompt, and the typing goes on intact', async () => {
    const received: string[] = [];
    let peer: WebSocket | undefined;
    const bare = await startBare((ws) => {
      peer = ws;
      ws.on('message', (data) => received.push(String(data)));
    });
    const term = startInTerminal([bare.url, '--no-color']);
    await waitFor(() => term.out.includes('/help for commands'), 'the connected line', 10_000);
    term.child.stdin!.write('later\r');
    await waitFor(() => received.length === 1, 'the first message');
    term.child.stdin!.write('half a li'); // no Enter: the push arrives mid-line
    // Pushed once the terminal shows the half-typed line (a timer here raced the typing on a busy machine).
    await waitFor(() => plain(term.out).endsWith('> half a li'), 'the half-typed line at the prompt');
    peer!.send('pushed while you type');
    // The line is cleared before printing, and the prompt with the typed text drawn again below.
    const afterPush = () => plain(term.out.slice(term.out.lastIndexOf('pushed while you type')));
    await waitFor(() => afterPush().includes('> half a li'), 'the prompt and the typed text drawn again after the push');
    expect(afterPush()).toMatch(/^pushed while you type\r?\n> half a li/);
    term.child.stdin!.write('ne\r');
    await waitFor(() => received.length === 2, 'the second message');
    expect(received).toEqual(['later', 'half a line']);
    term.child.stdin!.write('\x04'); // Ctrl-D on an empty line
    expect(await term.exited).toBe(0);
    await waitFor(() => bare.closes.length === 1, 'the close at the server');
    expect(bare.closes).toEqual([1000]);
  });

  it('control characters from the server cannot drive the terminal', async () => {
    const bare = await startBare((ws) => ws.send('a\x1b[2Jb\x07'));
    const term = startInTerminal([bare.url, '--no-color']);
    await waitFor(() => term.out.includes('< a'), 'the message', 10_000);
    expect(term.out).toContain('< a\\x1b[2Jb\\x07');
    term.child.stdin!.write('/close 4000 done\r');
    expect(await term.exited).toBe(0);
    await waitFor(() => bare.closes.length === 1, 'the close at the server');
    expect(bare.closes).toEqual([4000]);
  });
});

describe('lifeline connect --lifeline', () => {
  it('scripts: lines go as JSON values (text that is not JSON as a string), echoes come back as JSON, in both formats', async () => {
    serve = await spawnServe();
    for (const format of ['json', 'msgpack']) {
      const { code, stdout, stderr } = await runConnect([serve.wsUrl('/echo'), '--lifeline', format, '--wait', '3'], '{"a":[1,2]}\nhello\n12\n');
      expect([format, stdout, stderr]).toEqual([format, '{"a":[1,2]}\n"hello"\n12\n', '']);
      expect(code).toBe(0);
    }
  });

  it('scripts: a long pipe in Lifeline mode arrives whole and in order', async () => {
    serve = await spawnServe(NO_RATE_LIMIT_ARGS); // 3,000 messages at once: over the default burst, the server would slow the link down
    const lines = Array.from({ length: 3000 }, (_, i) => `{"i":${i}}`);
    const { code, stdout } = await runConnect([serve.wsUrl('/echo'), '--lifeline', '--wait', '5'], lines.join('\n') + '\n');
    expect(stdout.split('\n').slice(0, -1)).toEqual(lines);
    expect(code).toBe(0);
  });

  it('a server that does not speak Lifeline mode is a failed connect (exit 1), said in words', async () => {
    const bare = await startBare(echo); // ws accepts the offered subprotocol and echoes the hello
    const { code, stderr } = await runConnect([bare.url, '--lifeline', '--send', 'x']);
    expect(code).toBe(1);
    expect(stderr).toContain('the server does not speak Lifeline mode here');
  });

  it('at the prompt: the session resumes after the link is cut, nothing lost; /request gets its answer', async () => {
    serve = await spawnServe();
    proxy = await startChaosProxy({ targetPort: serve.port, seed: 1 });
    proxy.chaos = false; // cut only when the test says so
    const term = startInTerminal([`ws://127.0.0.1:${proxy.port}/echo`, '--lifeline', '--no-color']);
    const screen = () => plain(term.out);
    const started = await waitFor(() => /session (\S+) started/.exec(screen()), 'the session', 10_000);
    term.child.stdin!.write('{"n":1}\r');
    await waitFor(() => screen().includes('< {"n":1}'), 'the first echo');
    proxy.cutAll();
    await waitFor(() => screen().includes('connection lost: 1006'), 'the drop');
    await waitFor(() => screen().includes(`session ${started[1]} resumed`), 'the resume', 10_000);
    term.child.stdin!.write('after the cut\r');
    await waitFor(() => screen().includes('< "after the cut"'), 'the echo after the resume');
    term.child.stdin!.write('/request echo {"x":2}\r');
    await waitFor(() => screen().includes('< response to echo: {"x":2}'), 'the response');
    term.child.stdin!.write('/quit\r');
    expect(await term.exited).toBe(0);
    expect(screen()).not.toContain('session reset');
  });
});

describe('a hostile server', () => {
  it('a Lifeline message nested 20,000 deep is shown as not printable, and the messages after it still print', async () => {
    const deep = '['.repeat(20_000) + ']'.repeat(20_000);
    const bare = await startBare((ws) => {
      ws.once('message', () => {
        ws.send(JSON.stringify({ t: 'welcome', sid: 's1', tok: 't1', rx: 0, resumed: false, hb: 25_000 }));
        ws.send(`{"t":"m","s":1,"d":${deep}}`);
        ws.send(JSON.stringify({ t: 'm', s: 2, d: 'after' }));
      });
    }, { handleProtocols: (offered) => (offered.has('lifeline.v1') ? 'lifeline.v1' : false) });
    const { code, stdout, stderr } = await runConnect([bare.url, '--lifeline', '--wait', '1']);
    expect(stderr).not.toMatch(/RangeError|uncaught/i);
    expect(stdout).toContain('(a value that cannot be shown as JSON: Maximum call stack size exceeded)');
    expect(stdout).toContain('after');
    expect(code).toBe(0);
  });
});
