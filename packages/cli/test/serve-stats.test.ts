import { afterEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppStats } from '@lifeline/server';
import { resolveServeConfig } from '../src/serve-options.js';
import { CLI, spawnServe, stopProcess, type ServeProcess } from '../../../test/support/servers.js';

let proc: ServeProcess | undefined;
afterEach(async () => {
  await stopProcess(proc);
  proc = undefined;
});

const TOKEN = 'tok-0123456789abcdef';

describe('lifeline serve: GET /api/stats', () => {
  it('answers on its loopback bind without a token, listing its routes', async () => {
    proc = await spawnServe();
    expect(proc.stdout.join('\n')).toMatch(/stats +http:\/\/127\.0\.0\.1:\d+\/api\/stats +\(loopback binds only without --admin-token\)/);
    const res = await fetch(proc.httpUrl('/api/stats'));
    expect(res.status).toBe(200);
    const stats = (await res.json()) as AppStats;
    expect(stats.routes.ws).toEqual(expect.arrayContaining([{ path: '/test', lifeline: false }, { path: '/echo', lifeline: true }]));
    expect(stats.routes.http.map((r) => r.path)).toEqual(expect.arrayContaining(['/', '/api/stats', '/console/*']));
    expect(stats.channels).toEqual([]);
  });

  it('--admin-token: required, even on loopback, and never printed', async () => {
    proc = await spawnServe(['--admin-token', TOKEN, '--log-level', 'debug']);
    expect((await fetch(proc.httpUrl('/api/stats'))).status).toBe(401);
    expect((await fetch(proc.httpUrl('/api/stats'), { headers: { Authorization: 'Bearer wrong-token-123' } })).status).toBe(401);
    expect((await fetch(proc.httpUrl('/api/stats'), { headers: { Authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    expect(proc.stdout.join('\n')).toMatch(/needs the admin token/);
    expect(proc.stdout.join('\n') + proc.stderr.join('\n')).not.toContain(TOKEN);
  });

  it('a token that cannot travel in a header is bad usage (exit 2), and the message does not repeat it', async () => {
    const result = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(process.execPath, [CLI, 'serve', '--port', '0', '--admin-token', 'my secret'], { timeout: 10_000 }, (error, _stdout, stderr) =>
        resolve({ code: typeof error?.code === 'number' ? error.code : 0, stderr }),
      );
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/at least 8 printable ASCII characters without spaces/);
    expect(result.stderr).not.toContain('my secret');
  });

  it('LIFELINE_ADMIN_TOKEN sets it; the flag wins over it, and it wins over the config file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lifeline-stats-'));
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ adminToken: 'from-the-file' }));
    expect(resolveServeConfig({}, {}).adminToken).toBeUndefined();
    expect(resolveServeConfig({}, { LIFELINE_ADMIN_TOKEN: 'from-the-env' }).adminToken).toBe('from-the-env');
    expect(resolveServeConfig({ 'admin-token': 'from-the-flag' }, { LIFELINE_ADMIN_TOKEN: 'from-the-env' }).adminToken).toBe('from-the-flag');
    expect(resolveServeConfig({ config: file }, {}).adminToken).toBe('from-the-file');
    expect(resolveServeConfig({ config: file }, { LIFELINE_ADMIN_TOKEN: 'from-the-env' }).adminToken).toBe('from-the-env');
    expect(resolveServeConfig({}, { LIFELINE_ADMIN_TOKEN: '' }).adminToken).toBeUndefined();
  });
});
