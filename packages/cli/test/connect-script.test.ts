import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeStep, jsonContains, matches, parseScript, ScriptRun, type Script, type ScriptSend, type StepResult } from '../src/script.js';
import { CLI, spawnServe, stopProcess, type ServeProcess } from '../../../test/support/servers.js';

/** Scripted expectations: the module the console shares, and `lifeline connect --script FILE` against lifeline serve. */

const dir = mkdtempSync(join(tmpdir(), 'lifeline-script-'));
let serve: ServeProcess | undefined;
beforeAll(async () => {
  serve = await spawnServe();
});
afterAll(() => stopProcess(serve));

function file(script: unknown, name = `script-${Math.random().toString(36).slice(2)}.json`): string {
  const path = join(dir, name);
  writeFileSync(path, typeof script === 'string' ? script : JSON.stringify(script));
  return path;
}

function connect(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'connect', ...args], { timeout: 15_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }),
    );
  });
}

const ECHO: Script = {
  lifelineScript: 1,
  name: 'echo answers',
  steps: [
    { send: 'hello' },
    { expect: { text: 'hello' }, within: 2000 },
    { send: { json: { type: 'ping', n: 1 } } },
    { expect: { json: { type: 'ping' } }, within: 2000 },
    { send: { hex: '00 ff 10' } },
    { expect: { binary: '00ff10' }, within: 2000 },
    { send: { base64: 'AAEC' } },
    { expect: { any: true } },
    { send: 'seven' },
    { expect: { regex: '/^SEV/i' } },
  ],
};

describe('script module', () => {
  it('reads a script and names the step and field at fault', () => {
    expect(parseScript(JSON.stringify(ECHO)).steps).toHaveLength(10);
    const bad: [unknown, RegExp][] = [
      ['{', /^The script is not JSON/],
      [{ steps: [{ wait: 1 }] }, /"lifelineScript" must be 1/],
      [{ lifelineScript: 1, steps: [] }, /"steps" must be a non-empty list/],
      [{ lifelineScript: 1, steps: [{ send: 1 }] }, /^step 1: "send" is a string/],
      [{ lifelineScript: 1, steps: [{ wait: 1 }, { send: 'x', wait: 2 }] }, /^step 2: give exactly one/],
      [{ lifelineScript: 1, steps: [{ expect: { text: 'x' }, within: 0 }] }, /^step 1: "within" is a number of ms > 0/],
      [{ lifelineScript: 1, steps: [{ expect: { regex: '(' } }] }, /^step 1: bad regular expression/],
      [{ lifelineScript: 1, steps: [{ expect: { binary: 'zz' } }] }, /^step 1: "binary" is hex/],
      [{ lifelineScript: 1, steps: [{ expect: { any: false } }] }, /^step 1: "expect" is one of/],
      [{ lifelineScript: 1, protocols: 'chat', steps: [{ wait: 1 }] }, /"protocols" must be a list of strings/],
    ];
    for (const [script, error] of bad) expect(() => parseScript(typeof script === 'string' ? script : JSON.stringify(script))).toThrow(error);
  });

  it('matches text, JSON containment, bytes and Lifeline values', () => {
    expect(matches({ text: 'a' }, { text: 'a' })).toBe(true);
    expect(matches({ contains: 'ell' }, { text: 'hello' })).toBe(true);
    expect(matches({ json: { a: 1 } }, { text: '{"a":1,"b":2}' })).toBe(true);
    expect(matches({ json: { a: 1 } }, { text: 'not json' })).toBe(false);
    expect(matches({ json: { a: 1 } }, { text: '{"a":1}', value: { a: 2 } })).toBe(false); // the value decides in Lifeline mode
    expect(matches({ json: 'hi' }, { text: 'hi', value: 'hi' })).toBe(true);
    expect(matches({ binary: '0x00 FF' }, { bytes: new Uint8Array([0, 255]) })).toBe(true);
    expect(matches({ binary: '00' }, { text: '00' })).toBe(false);
    expect(jsonContains({ a: [1, { b: 2, c: 3 }] }, { a: [1, { b: 2 }] })).toBe(true);
    expect(jsonContains({ a: [1, 2] }, { a: [1] })).toBe(false);
    expect(describeStep({ expect: { json: { t: 1 } } })).toBe('expect JSON containing {"t":1} within 5000 ms');
  });

  it('runs: an expect passes over other messages, waits for later ones, and fails after its time', async () => {
    const sent: ScriptSend[] = [];
    const results: StepResult[] = [];
    const run = new ScriptRun(
      { lifelineScript: 1, steps: [{ send: 'go' }, { expect: { text: 'b' }, within: 500 }, { expect: { text: 'c' }, within: 100 }] },
      { send: (s) => sent.push(s), result: (r) => results.push(r) },
    );
    run.receive({ text: 'a' }); // before the run: a candidate, passed over
    const done = run.run();
    setTimeout(() => run.receive({ text: 'b' }), 50);
    const all = await done;
    expect(sent).toEqual(['go']);
    expect(all.map((r) => r.ok)).toEqual([true, true, false]);
    expect(all[1]).toMatchObject({ detail: '1 other message(s) passed over' });
    expect(all[1]!.ms).toBeGreaterThanOrEqual(40);
    expect(all[2]).toMatchObject({ detail: 'no matching message within 100 ms' });
    expect(results).toEqual(all);
  });
});

describe('lifeline connect --script', () => {
  it('runs a script against /echo and exits 0, in raw and in Lifeline mode', async () => {
    const path = file(ECHO);
    for (const extra of [[], ['--lifeline']]) {
      const result = await connect([serve!.wsUrl('/echo'), '--script', path, ...extra]);
      expect(result.stderr).toContain('lifeline: ✓ step 2: expect "hello" within 2000 ms');
      expect(result.stderr).toContain('lifeline: script "echo answers": all 10 steps passed');
      expect(result.code, result.stderr).toBe(0);
    }
  });

  it('exits 4 when an expectation fails, naming the step', async () => {
    const result = await connect([serve!.wsUrl('/echo'), '--script', file({ lifelineScript: 1, steps: [{ send: 'a' }, { expect: { text: 'b' }, within: 300 }, { send: 'never' }] })]);
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/lifeline: ✗ step 2: expect "b" within 300 ms \(\d+ ms\) — no matching message within 300 ms \(1 other message\(s\) arrived\)/);
    expect(result.stderr).toContain('lifeline: script failed at step 2 of 3');
    expect(result.stdout).toBe('a\n');
  });

  it('a bad script, or --script with --send, is bad usage (exit 2); a refused connection exits 1', async () => {
    const bad = await connect([serve!.wsUrl('/echo'), '--script', file('{"lifelineScript": 1, "steps": [{"send": 1}]}')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/step 1: "send" is a string/);
    expect((await connect([serve!.wsUrl('/echo'), '--script', join(dir, 'missing.json')])).code).toBe(2);
    expect((await connect([serve!.wsUrl('/echo'), '--script', file(ECHO), '--send', 'x'])).code).toBe(2);
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as { port: number };
    await new Promise((resolve) => closed.close(resolve));
    const refused = await connect([`ws://127.0.0.1:${port}/echo`, '--script', file(ECHO)]);
    expect(refused.code).toBe(1);
  });
});
