/**
 * A hostile `lifeline serve --config` file (issue 14): over 1 MiB, nested 5,000 deep, with
 * 20,000 items, a key of 5,000 characters, a `__proto__` key, a lone surrogate, or not JSON.
 * Each is bad usage: exit 2 with one line naming the file and what is wrong, never a stack
 * trace or a crash; and the same limits as a flag still start the server.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HostileCounts } from '../../../test/support/hostile.js';
import { CLI, spawnServe, stopProcess } from '../../../test/support/servers.js';

const counts = new HostileCounts('lifeline serve --config');
const dir = mkdtempSync(join(tmpdir(), 'lifeline-hostile-config-'));
afterAll(() => {
  counts.print();
  rmSync(dir, { recursive: true, force: true });
});

function runServe(file: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'serve', '--port', '0', '--config', file], { timeout: 20_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

const CASES: [string, string, RegExp][] = [
  ['over 1 MiB', `{"port":0,"host":"127.0.0.1"${' '.repeat(1024 * 1024)}}`, /over 1048576 bytes/],
  ['a value nested 5,000 deep', `{"allowedOrigins":${'['.repeat(5000)}${']'.repeat(5000)}}`, /nests deeper than 64 levels/],
  ['a value nested 100,000 deep', `{"logLevel":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}`, /nests deeper than 64 levels/],
  ['20,000 items', `{"allowedOrigins":[${new Array(20_000).fill('"x"').join(',')}]}`, /more than 10000 items/],
  ['a key of 5,000 characters', `{"${'k'.repeat(5000)}":1}`, /key over 1024 characters/],
  ['a __proto__ key', '{"__proto__":{"port":1}}', /__proto__/],
  ['a lone surrogate', '{"host":"\\ud800"}', /lone surrogate/],
  ['not JSON', '{"port":', /Cannot read config file/],
];

describe('lifeline serve --config: a hostile file is bad usage, never a crash', () => {
  for (const [label, text, reason] of CASES) {
    it(`${label}: exit 2, one line naming it`, async () => {
      counts.cases++;
      counts.inputs++;
      const file = join(dir, `${label.replace(/\W+/g, '-')}.json`);
      writeFileSync(file, text);
      const run = await runServe(file);
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toMatch(reason);
      expect(run.stderr).toContain(file);
      expect(run.stderr.trim().split('\n')).toHaveLength(1); // no stack trace
      expect(run.stdout).toBe('');
      counts.survivals++;
    });
  }

  it('the limits themselves are options of the file, and the welcome announces them', async () => {
    const file = join(dir, 'limits.json');
    writeFileSync(file, JSON.stringify({ maxDepth: 100, maxItems: 50_000, maxKeyLength: 4096 }));
    const proc = await spawnServe(['--config', file]);
    try {
      const { LifelineTestClient } = await import('../../../test/support/lifeline-test-client.js');
      const client = new LifelineTestClient(proc.wsUrl('/echo'));
      const welcome = await client.connect();
      expect(welcome?.max).toEqual({ size: 1048576, depth: 100, items: 50_000, key: 4096 });
      client.close();
    } finally {
      await stopProcess(proc);
    }
  });
});
