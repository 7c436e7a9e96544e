/**
 * The kit's checks can fail: a proxy in front of a conforming in-memory node breaks one
 * rule at a time (a welcome without tok, no acknowledgements, error envelopes swallowed, a
 * gap in the server's numbering, values §2.1 refuses (a key __proto__, a lone surrogate), a
 * pong with another ts, a token that changes on resume, an unknown envelope type let
 * through, no subprotocol selected), and the kit must report
 * FAIL on the check for that rule, with a reason that names it. The same proxy passing
 * everything through changes nothing (the control).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { decode, encode } from '@msgpack/msgpack';
import { runConformance, type CheckResult, type ConformanceReport } from '@lifeline/conformance';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { startApp, type RunningApp } from '../../../test/support/servers.js';
import { addConformanceRoute } from './conformance-app.js';

type Env = Record<string, unknown>;
/** What to do with one envelope: pass it on (possibly changed), or drop it (null). */
type Tamper = (env: Env) => Env | null;

interface Mutation {
  fromServer?: Tamper;
  fromClient?: Tamper;
  /** The subprotocol the proxy tells the client it selected (default: the server's choice). */
  selectProtocol?: (upstream: string) => string | false;
}

let upstream: RunningApp;
let proxy: Server;
let proxyPort = 0;
let mutation: Mutation = {};
const sockets = new Set<Duplex>();

function decodeFrame(data: Buffer, binary: boolean): Env | undefined {
  try {
    const value = binary ? decode(data) : JSON.parse(data.toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Env) : undefined;
  } catch {
    return undefined;
  }
}

/** Passes `data` on through `tamper` when it is an envelope; anything else as it is. */
function relay(data: Buffer, binary: boolean, tamper: Tamper | undefined, to: WebSocket): void {
  if (to.readyState !== WebSocket.OPEN) return;
  const env = tamper ? decodeFrame(data, binary) : undefined;
  if (!tamper || !env) {
    to.send(data, { binary });
    return;
  }
  const out = tamper(env);
  if (out) to.send(binary ? encode(out) : JSON.stringify(out), { binary });
}

function forwardClose(to: WebSocket, code: number, reason: Buffer): void {
  if (code === 1005 || code === 1006) to.terminate();
  else if (to.readyState === WebSocket.OPEN) to.close(code, reason);
}

beforeAll(async () => {
  upstream = await startApp(addConformanceRoute, { handshakeTimeout: 2000, heartbeat: { interval: 1000, timeout: 45_000 } });
  proxy = createServer((_request, response) => response.writeHead(404).end());
  proxy.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy()); // a peer's reset; Node's HTTP server no longer listens after 'upgrade'
    const protocols = String(request.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter(Boolean);
    const server = new WebSocket(upstream.wsUrl(request.url ?? '/'), protocols, { perMessageDeflate: false });
    server.once('unexpected-response', (_req, response) => {
      socket.end(`HTTP/1.1 ${response.statusCode} Refused\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nrefused upstream\n`);
    });
    server.once('error', () => socket.destroy());
    server.once('open', () => {
      const selected = mutation.selectProtocol ? mutation.selectProtocol(server.protocol) : server.protocol;
      const handshake = new WebSocketServer({ noServer: true, perMessageDeflate: false, handleProtocols: () => selected });
      handshake.handleUpgrade(request, socket, head, (client) => {
        const { fromServer, fromClient } = mutation;
        client.on('message', (data: Buffer, binary: boolean) => relay(data, binary, fromClient, server));
        server.on('message', (data: Buffer, binary: boolean) => relay(data, binary, fromServer, client));
        client.on('close', (code, reason) => forwardClose(server, code, reason));
        server.on('close', (code, reason) => forwardClose(client, code, reason));
        client.on('error', () => server.terminate());
        server.on('error', () => client.terminate());
      });
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyPort = (proxy.address() as { port: number }).port;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => proxy?.close(resolve));
  await upstream?.stop();
});

async function runThrough(m: Mutation, only: string[], timeoutScale = 3): Promise<ConformanceReport> {
  mutation = m;
  return runConformance([`ws://127.0.0.1:${proxyPort}/conformance`], { only, timeoutScale, helloTimeoutMs: 2000, resumeWindowMs: 3000 });
}

function failed(report: ConformanceReport, title: string): CheckResult {
  const result = report.results.find((r) => r.title.includes(title) && r.status === 'FAIL');
  expect(result, `a FAIL for "${title}" among:\n${report.results.map((r) => `${r.status} ${r.title} — ${r.reason}`).join('\n')}`).toBeDefined();
  expect(report.ok).toBe(false);
  return result!;
}

const withoutAck = (env: Env): Env | null => {
  if (env['t'] === 'a') return null;
  const { a: _dropped, ...rest } = env;
  return rest;
};

describe('the kit fails a server that breaks a rule', { timeout: 120_000 }, () => {
  it('control: through the proxy unchanged, the same checks pass', async () => {
    // (Not §2.6: the proxy's own WebSocket layer refuses invalid UTF-8 and big frames itself.)
    const report = await runThrough({}, ['§2.2 R6', '§2.3', '§2.4 R4', '§2.5 R4', '§2.1 R1']);
    expect(report.results.filter((r) => r.status === 'FAIL').map((r) => `${r.title} — ${r.reason}`)).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it('a welcome without tok: the session cannot be opened, every check fails', async () => {
    const report = await runThrough({ fromServer: (env) => (env['t'] === 'welcome' ? { ...env, tok: undefined } : env) }, ['§2.2 R6']);
    expect(failed(report, 'a new session: welcome with sid').reason).toContain('welcome.tok: must be 1-128 base64url characters');
    expect(report.results.every((r) => r.status === 'FAIL')).toBe(true);
  });

  it('no acknowledgements from the server: §2.3 R3 fails', async () => {
    // Scale 1: the failure is a timeout (5 s), which no machine can make pass.
    const report = await runThrough({ fromServer: withoutAck }, ['§2.3 R3'], 1);
    expect(failed(report, 'the server acknowledges a delivered m within 50 ms').reason).toMatch(/waiting for the acknowledgement of s=1: nothing within/);
  });

  it('error envelopes swallowed: the close codes of §2.6 come without one, and the checks fail', async () => {
    const report = await runThrough({ fromServer: (env) => (env['t'] === 'error' ? null : env) }, ['§2.1 R1']);
    expect(failed(report, 'an unknown t').reason).toContain('closed with 1002 but sent no error envelope first');
  });

  it('a gap in the server numbering (its s=2 never arrives): §2.3 R1 fails with a gap', async () => {
    const report = await runThrough({ fromServer: (env) => (env['t'] === 'm' && env['s'] === 2 ? null : env) }, ['§2.3 R1']);
    expect(failed(report, 'the server numbers its m 1, 2, 3').reason).toContain('§2.3 R2: a gap: the server sent s=3 after 1');
  });

  it('values §2.1 refuses written by the server (a key __proto__, a lone surrogate): the check that receives them fails', async () => {
    // JSON.parse makes __proto__ an own key, which JSON.stringify and the MessagePack encoder then write.
    const protoKey = await runThrough({ fromServer: (env) => (env['t'] === 'm' ? { ...env, d: JSON.parse('{"__proto__":{"polluted":true}}') } : env) }, ['§2.3 R1']);
    expect(failed(protoKey, 'the server numbers its m 1, 2, 3').reason).toContain('__proto__');
    const surrogate = await runThrough({ fromServer: (env) => (env['t'] === 'm' ? { ...env, d: 'alone \ud800' } : env) }, ['§2.3 R1']);
    expect(failed(surrogate, 'the server numbers its m 1, 2, 3').reason).toContain('a lone surrogate');
  });

  it('a pong with another ts: §2.5 R4 fails', async () => {
    const report = await runThrough({ fromServer: (env) => (env['t'] === 'pong' ? { ...env, ts: (env['ts'] as number) + 1 } : env) }, ['§2.5 R4']);
    expect(failed(report, 'a client ping is answered at once').reason).toMatch(/pong\.ts \d+ for ts \d+/);
  });

  it('a token that changes on resume: §2.4 R4 fails', async () => {
    const report = await runThrough({ fromServer: (env) => (env['t'] === 'welcome' && env['resumed'] === true ? { ...env, tok: 'changed-token-changed-token' } : env) }, ['§2.4 R4']);
    expect(failed(report, 'tok never changes').reason).toContain('a resumed welcome carries another tok');
  });

  it('an unknown envelope type let through silently: §2.1 R1 fails for want of the 1002', async () => {
    const report = await runThrough({ fromClient: (env) => (env['t'] === 'zz-conformance' ? null : env) }, ['§2.1 R1'], 1); // the failure is a timeout (5 s for the close); scale 1 leaves a loaded machine that long to open the session
    expect(failed(report, 'after the welcome, an unknown t').reason).toMatch(/the error envelope and close 1002: nothing within/);
  });

  it('no subprotocol selected for lifeline.v1: no session can be opened, the checks fail', async () => {
    const report = await runThrough({ selectProtocol: () => false }, ['§2.2 R6']);
    expect(failed(report, 'a new session: welcome with sid').reason).toContain('Server sent no subprotocol');
  });
});
