import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import fc from 'fast-check';
import * as ws from 'ws';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { clientFrame, rawWebSocket } from '../../../test/support/raw-http.js';
import { spawnServe, stopProcess, type ServeProcess } from '../../../test/support/servers.js';
import { ensureDebianPackage, fileExists } from '../../../test/support/system-packages.js';
import { waitFor } from '../../../test/support/wait.js';

/**
 * `/test` against the seed's Flask route, byte for byte: the seed answered every message with
 * Python's `json.dumps(message)` and then `111111111`. The oracle is Debian's own Python
 * (`/usr/bin/python3`), fed the same strings; the server is a real `lifeline serve` process,
 * and the frames are read off a raw TCP socket by ws's Receiver, so nothing reinterprets them.
 *
 * Lone surrogates are not in the corpus: a WebSocket text frame must be valid UTF-8 (RFC 6455
 * §8.1), and a lone surrogate has no UTF-8 form. A client that tries sends U+FFFD instead (the
 * WHATWG/Node encoders) or invalid UTF-8, which the server closes with 1007 — both shown below.
 */

/** ws's frame parser (exported at runtime, not in @types/ws): reads the server's frames off the raw socket. */
interface FrameReceiver {
  write(chunk: Buffer): boolean;
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): this;
  on(event: 'conclude', listener: (code: number) => void): this;
}
const { Receiver } = ws as unknown as { Receiver: new (options: { isServer: boolean; maxPayload: number }) => FrameReceiver };

const PYTHON = '/usr/bin/python3';
const MARKER = '111111111';
const TEXT = 0x1;
const BINARY = 0x2;

let server: ServeProcess | undefined;

beforeAll(async () => {
  ensureDebianPackage('python3', fileExists(PYTHON));
  server = await spawnServe();
});

afterAll(async () => {
  await stopProcess(server);
});

/** `json.dumps(s)` for each string, computed by Python itself. */
function pythonDumps(strings: readonly string[]): Promise<string[]> {
  const program = 'import json, sys\nfor line in sys.stdin.buffer:\n    sys.stdout.write(json.dumps(json.loads(line)) + "\\n")\n';
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ['-c', program], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.once('error', reject);
    child.once('exit', (code) => {
      const lines = out.split('\n').slice(0, -1);
      if (code !== 0 || lines.length !== strings.length) reject(new Error(`python exited ${code} with ${lines.length}/${strings.length} lines: ${err}`));
      else resolve(lines);
    });
    // JSON.stringify escapes every newline inside a string, so each line is one document.
    child.stdin.end(strings.map((s) => `${JSON.stringify(s)}\n`).join(''));
  });
}

interface Frame {
  opcode: number;
  bytes: Buffer;
}

interface SeedConnection {
  socket: Socket;
  frames: Frame[];
  closeCode: number | undefined;
  /** Writes client frames, all in one TCP write. */
  write(...frames: Buffer[]): void;
  /** Resolves once `count` frames have arrived (the opening `111111111` counts). */
  received(count: number, what: string): Promise<Frame[]>;
  close(): void;
}

async function openSeed(): Promise<SeedConnection> {
  const socket = await rawWebSocket(server!.port, '/test');
  const receiver = new Receiver({ isServer: false, maxPayload: 0 });
  const connection: SeedConnection = {
    socket,
    frames: [],
    closeCode: undefined,
    write: (...frames) => socket.write(Buffer.concat(frames)),
    received: async (count, what) => {
      await waitFor(() => connection.frames.length >= count || connection.closeCode !== undefined, what, 15_000);
      return connection.frames;
    },
    close: () => socket.destroy(),
  };
  receiver.on('message', (data, isBinary) => connection.frames.push({ opcode: isBinary ? BINARY : TEXT, bytes: data }));
  receiver.on('conclude', (code) => (connection.closeCode = code));
  socket.on('data', (chunk) => receiver.write(chunk));
  return connection;
}

/** What the seed sent for these messages on a fresh connection: `111111111`, then `json.dumps(m)` and `111111111` for each. */
async function seedAnswers(messages: readonly string[]): Promise<string[]> {
  const dumps = await pythonDumps(messages);
  return [MARKER, ...dumps.flatMap((d) => [d, MARKER])];
}

/** Sends the messages (each its own TCP write, or all in one), returns every frame's text; fails on a binary frame. */
async function exchange(messages: readonly string[], oneWrite: boolean): Promise<string[]> {
  const connection = await openSeed();
  try {
    await connection.received(1, 'the opening 111111111');
    const frames = messages.map((m) => clientFrame(TEXT, m));
    if (oneWrite) connection.write(...frames);
    else for (const frame of frames) connection.write(frame);
    const got = await connection.received(1 + 2 * messages.length, `${2 * messages.length} replies`);
    expect(connection.closeCode, 'the server closed the connection').toBeUndefined();
    expect(got.filter((f) => f.opcode !== TEXT)).toEqual([]);
    return got.map((f) => f.bytes.toString('latin1')); // latin1: a byte is a char, so non-ASCII output cannot hide
  } finally {
    connection.close();
  }
}

const controls = Array.from({ length: 0x20 }, (_, i) => String.fromCharCode(i)).join('');
const printable = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i)).join('');

/** Fixed probes: each thing json.dumps treats specially, and where JavaScript's JSON.stringify differs from it. */
const PROBES = [
  JSON.stringify(123), // what the seed page sends on open
  'é',
  'héllo "wörld" \\ ✓',
  '😀',
  'a😀b𝄞c',
  controls,
  '\u007f',
  'DEL\u007fin the middle',
  '\u0080\u00ff',
  '\u2028',
  '\u2029',
  'line\u2028separator\u2029paragraph',
  '\ufeff',
  '\ufeffBOM first',
  '\ufffd\uffff\ud7ff\ue000',
  '\u{10ffff}',
  printable,
  '/ </script> \'single\'',
  '',
  ' ',
  'heartCheck',
  '中文 русский العربية',
  'x'.repeat(70_000), // long: over 64 KiB, a 64-bit length frame
  'é😀\u2028'.repeat(11_000), // long and all escapes: 77,000 bytes in, 264,000 out
];

describe('/test answers as the seed\'s Flask route did: json.dumps(message), then 111111111', { timeout: 120_000 }, () => {
  test('fixed probes: non-ASCII, astral, controls, DEL, U+2028/2029, BOM, long messages and heartCheck', async () => {
    const got = await exchange(PROBES, false);
    const expected = await seedAnswers(PROBES);
    expect(got.length).toBe(expected.length);
    for (let i = 0; i < expected.length; i++) {
      const probe = i === 0 ? 'the opening message' : `probe ${Math.floor((i - 1) / 2)} ${JSON.stringify(PROBES[Math.floor((i - 1) / 2)]!.slice(0, 40))}`;
      expect(got[i], probe).toBe(expected[i]);
    }
    // The two spots where a JSON.stringify reply differs, spelled out once (not computed).
    expect(got[1 + 2 * PROBES.indexOf('😀')]).toBe('"\\ud83d\\ude00"');
    expect(got[1 + 2 * PROBES.indexOf('\u007f')]).toBe('"\\u007f"');
  });

  test('heartCheck is answered "heartCheck" and then 111111111, like any message', async () => {
    const got = await exchange(['heartCheck', 'after', 'heartCheck'], false);
    expect(got).toEqual([MARKER, '"heartCheck"', MARKER, '"after"', MARKER, '"heartCheck"', MARKER]);
  });

  test('pipelined: 400 messages written in one TCP write are answered in order', async () => {
    const messages = Array.from({ length: 400 }, (_, i) => (i % 50 === 7 ? 'heartCheck' : `${i} ${PROBES[i % (PROBES.length - 2)]}`));
    const got = await exchange(messages, true);
    expect(got).toEqual(await seedAnswers(messages));
  });

  test('a generated corpus (any code point, and strings dense in the characters json.dumps escapes) matches Python', async () => {
    const special = fc.constantFrom('\u007f', '\u2028', '\u2029', '\ufeff', '"', '\\', '/', '\ud83d\ude00', '\u00e9', ...controls);
    const corpus = [
      ...fc.sample(fc.string({ unit: 'binary', maxLength: 300 }), { numRuns: 600, seed: 13 }),
      ...fc.sample(fc.string({ unit: fc.oneof(special, fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })), maxLength: 300 }), { numRuns: 600, seed: 14 }),
    ];
    // fast-check's "binary" unit yields whole code points only: no lone surrogates (see above).
    expect(corpus.filter((s) => /\p{Cs}/u.test(s))).toEqual([]);
    const got = await exchange(corpus, true);
    const expected = await seedAnswers(corpus);
    const mismatches = expected.flatMap((e, i) => (got[i] === e ? [] : [{ index: i, sent: corpus[Math.floor((i - 1) / 2)], got: got[i], python: e }]));
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(got.length).toBe(expected.length);
  });
});

describe('what cannot be byte-identical', () => {
  test('a lone surrogate cannot arrive: invalid UTF-8 in a text frame is closed with 1007', async () => {
    const connection = await openSeed();
    try {
      await connection.received(1, 'the opening 111111111');
      connection.write(clientFrame(TEXT, Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22]))); // U+D800 encoded as if it were a character
      await waitFor(() => connection.closeCode !== undefined, 'the close frame');
      expect(connection.closeCode).toBe(1007);
      expect(connection.frames.map((f) => f.bytes.toString())).toEqual([MARKER]);
    } finally {
      connection.close();
    }
  });

  test('a binary message (the seed raised TypeError on it) is answered with the JSON string of its base64, then 111111111', async () => {
    const connection = await openSeed();
    try {
      connection.write(clientFrame(BINARY, Buffer.from([0, 1, 2, 0xfe, 0xff])));
      const got = await connection.received(3, 'the answer to a binary message');
      expect(got.map((f) => [f.opcode, f.bytes.toString()])).toEqual([
        [TEXT, MARKER],
        [TEXT, '"AAEC/v8="'],
        [TEXT, MARKER],
      ]);
    } finally {
      connection.close();
    }
  });
});
