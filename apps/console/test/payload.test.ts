import { describe, expect, it } from 'vitest';
import { compose } from '../src/lib/compose';
import { jsonContains, compileMatch } from '../src/lib/match';
import { formatGap, hexDump, jsonErrorOffset, parseBase64, parseHex, parseJson, toBase64, toHex, utf8Length } from '../src/lib/payload';
import { clientSnippet, vueSnippet } from '../src/lib/snippet';
import { defaultSettings } from '../src/lib/connection';
import { closeSentence, describeClose, failureSentence, notLifelineSentence } from '../src/lib/explain';

describe('payloads', () => {
  it('reads hex as people write it, and says what is wrong', () => {
    for (const input of ['00ff10', '00 ff 10', '0x00 0xff 0x10', '00:FF:10', '00,ff,10', '00\nff\n10']) {
      expect(parseHex(input)).toEqual({ ok: true, value: new Uint8Array([0, 255, 16]) });
    }
    expect(parseHex('0g')).toEqual({ ok: false, error: '"g" is not a hex digit (0-9, a-f).' });
    expect(parseHex('abc')).toMatchObject({ ok: false, error: expect.stringMatching(/^3 hex digits/) });
  });

  it('reads base64, standard or URL-safe, padded or not', () => {
    for (const input of ['AP8Q', 'AP8Q\n', 'AP8Q']) expect(parseBase64(input)).toEqual({ ok: true, value: new Uint8Array([0, 255, 16]) });
    expect(parseBase64('_-8')).toEqual({ ok: true, value: new Uint8Array([0xff, 0xef]) });
    expect(parseBase64('AA=A').ok).toBe(false);
    expect(parseBase64('A').ok).toBe(false);
    expect(toBase64(new Uint8Array([0, 255, 16]))).toBe('AP8Q');
  });

  it('names the line and column of bad JSON', () => {
    expect(parseJson('{"a": }')).toMatchObject({ ok: false, error: expect.stringMatching(/^line 1, column 7: /) });
    expect(parseJson('{\n  "a": 1,\n  "b": tru\n}')).toMatchObject({ ok: false, error: expect.stringMatching(/^line 3, column 8: /) });
    expect(jsonErrorOffset('[1, 2')).toBe(5);
    expect(jsonErrorOffset('{"a":1} x')).toBe(8);
    expect(jsonErrorOffset('"\\q"')).toBe(2);
    expect(parseJson(' [1, {"a": null}] ')).toEqual({ ok: true, value: [1, { a: null }] });
  });

  it('formats sizes, hex and gaps for the log', () => {
    expect(utf8Length('héllo')).toBe(6);
    expect(toHex(new Uint8Array([1, 2, 3, 4]), 2)).toBe('01 02 … (2 more)');
    expect(hexDump(new Uint8Array([0x48, 0x69, 0, 0xff]))).toBe('00000000  48 69 00 ff                                       |Hi..|');
    expect([0.25, 12.4, 1520, 180_000].map(formatGap)).toEqual(['+0.3 ms', '+12 ms', '+1.52 s', '+3 min']);
  });

  it('composes drafts into messages', () => {
    expect(compose('json', '{ "a" : 1 }')).toEqual({ ok: true, value: { kind: 'json', text: '{"a":1}', value: { a: 1 } } });
    expect(compose('hex', 'zz')).toMatchObject({ ok: false, error: expect.stringMatching(/^Not hex/) });
    expect(compose('text', '')).toEqual({ ok: true, value: { kind: 'text', text: '' } });
  });
});

describe('matching', () => {
  it('JSON containment: extra fields are fine, arrays match element by element', () => {
    expect(jsonContains({ type: 'result', step: 4, data: { x: 1, y: 2 } }, { type: 'result', data: { x: 1 } })).toBe(true);
    expect(jsonContains({ type: 'result' }, { type: 'other' })).toBe(false);
    expect(jsonContains([1, { a: 2, b: 3 }], [1, { a: 2 }])).toBe(true);
    expect(jsonContains([1, 2, 3], [1, 2])).toBe(false);
    expect(jsonContains('x', 'x')).toBe(true);
    const test = compileMatch('json', '{"t":"m"}');
    expect(typeof test === 'function' && test('{"t":"m","s":1}')).toBe(true);
    expect(typeof test === 'function' && test('not json')).toBe(false);
    expect(compileMatch('regex', '/(/')).toMatch(/^Bad regular expression/);
  });
});

describe('explanations and snippets', () => {
  it('says what close codes mean and what happens next', () => {
    expect(closeSentence(1006)).toBe('closed without a close frame: the network dropped or the server crashed');
    expect(closeSentence(1009)).toMatch(/^message too big/);
    expect(closeSentence(4321)).toMatch(/application’s own code/);
    expect(describeClose({ code: 1009, reason: '', wasClean: true, action: 'stop', at: 0 }, true)).toMatch(/not reconnecting: the same messages would fail again/);
    expect(describeClose({ code: 1012, reason: 'server restart; retry-after=2500', wasClean: true, action: 'retry', hint: 2500, at: 0 }, true)).toMatch(/reconnecting after the server’s hint of 2\.5 s/);
  });

  it('says why a handshake failed, and whether retrying can help, from the handshake check', () => {
    const url = 'ws://127.0.0.1:9/x';
    expect(failureSentence(url, { known: true, text: '404 Not Found: there is no WebSocket at this path', definitive: true })).toBe(
      'Could not connect: 404 Not Found: there is no WebSocket at this path.',
    );
    expect(failureSentence(url, { known: true, text: 'connection refused: nothing listens on 127.0.0.1:9', definitive: false })).toBe(
      'Could not connect: connection refused: nothing listens on 127.0.0.1:9.',
    );
    // The server accepts what the browser could not: the cause is on the browser's side.
    expect(failureSentence(url, { known: true, text: 'the server accepts this handshake', definitive: false, outcome: { kind: 'accepted', protocol: '' } })).toMatch(
      /^Could not connect from this browser, yet the server accepts the same handshake.*certificate/,
    );
    // No Lifeline server behind the page: say honestly that a browser cannot know.
    expect(failureSentence(url, { known: false, why: 'this page is not served by a Lifeline server that could make the same handshake and tell (lifeline serve does)' })).toBe(
      'Could not connect. Browsers do not say why a WebSocket handshake failed, and this page is not served by a Lifeline server that could make the same handshake and tell (lifeline serve does). ' +
        `lifeline connect ${url} prints the server's answer.`,
    );
    expect(notLifelineSentence('ws://127.0.0.1:9/test', 'lifeline.v1', 'envelope: must be an object')).toMatch(
      /^Could not connect: the server at 127\.0\.0\.1:9 accepted the handshake with subprotocol lifeline\.v1 but does not speak Lifeline mode there \(envelope: must be an object\)\. Turn Lifeline mode off/,
    );
  });

  it('copies the connection as code', () => {
    expect(clientSnippet({ ...defaultSettings(), url: 'ws://h/x', reconnectInitialDelay: 100, reconnectMaxDelay: 400 })).toContain('reconnect: { initialDelay: 100, maxDelay: 400 },');
    expect(clientSnippet({ ...defaultSettings(), url: 'ws://h/x' })).toContain('createClient("ws://h/x")'); // the client's own backoff needs no option
    const settings = { ...defaultSettings(), url: 'ws://127.0.0.1:5000/echo', protocols: 'chat.v2', heartbeat: true, reconnect: false };
    expect(clientSnippet(settings)).toContain(`createClient("ws://127.0.0.1:5000/echo", {
  protocols: "chat.v2",
  heartbeat: { message: "ping", reply: "ping", interval: 10000 },
  reconnect: false,`);
    const lifelineMode = vueSnippet({ ...settings, lifeline: true, heartbeat: true, reconnect: true });
    expect(lifelineMode).toContain("import { lifeline } from '@lifeline/client/lifeline';");
    expect(lifelineMode).toContain('mode: lifeline(),');
    expect(lifelineMode).not.toContain('protocols');
  });
});

describe('scripts in the console', () => {
  it('formats one step a line, and records the log as sends and expects', async () => {
    const { formatScript, scriptFromLog, starterScript } = await import('../src/lib/script-runner');
    const { parseScript } = await import('../src/lib/script');
    const { MessageLog } = await import('../src/lib/message-log');
    const settings = { ...defaultSettings(), url: 'ws://h/echo' };
    const text = formatScript(starterScript(settings));
    expect(text.split('\n')).toContain('    {"send":"hello"},');
    expect(parseScript(text)).toEqual(starterScript(settings));
    const log = new MessageLog();
    log.add({ dir: 'sys', text: 'connected' });
    log.add({ dir: 'out', text: '{"a":1}' });
    log.add({ dir: 'in', text: '{"a":1}' });
    log.add({ dir: 'in', bytes: new Uint8Array([1, 2]) });
    log.add({ dir: 'out', text: 'ping', tag: 'heartbeat' });
    expect(scriptFromLog(settings, log.entries()).steps).toEqual([
      { send: { json: { a: 1 } } },
      { expect: { json: { a: 1 } }, within: 5000 },
      { expect: { binary: '0102' }, within: 5000 },
    ]);
  });
});
