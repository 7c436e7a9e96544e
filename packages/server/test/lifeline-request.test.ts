import { afterEach, describe, expect, it } from 'vitest';
import { LifelineError } from '@lifeline/protocol';
import { RequestError, type Socket } from '@lifeline/server';
import { LifelineTestClient } from '../../../test/support/lifeline-test-client.js';
import { startApp, type RunningApp } from '../../../test/support/servers.js';
import { sleep, waitFor } from '../../../test/support/wait.js';

let running: RunningApp | undefined;
const clients: LifelineTestClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await running?.stop();
  running = undefined;
});

function client(path: string): LifelineTestClient {
  const c = new LifelineTestClient(running!.wsUrl(path));
  clients.push(c);
  return c;
}

describe('Lifeline mode: request/response', () => {
  it('answers client requests with handle(): values, coded errors, hidden errors, unknown names', async () => {
    running = await startApp((app) =>
      app.ws('/rpc', { lifeline: true }, (socket) => {
        socket.handle('sum', (data) => (data as number[]).reduce((a, b) => a + b, 0));
        socket.handle('later', async (data) => {
          await sleep(20);
          return { echoed: data };
        });
        socket.handle('nothing', () => undefined);
        socket.handle('refuse', () => {
          throw new LifelineError('LL_INVALID_OPTION', 'not like that');
        });
        socket.handle('crash', async () => {
          throw new Error('secret database detail');
        });
      }),
    );
    const c = client('/rpc');
    await c.connect();
    await expect(c.request('sum', [1, 2, 3])).resolves.toBe(6);
    await expect(c.request('later', 'x')).resolves.toEqual({ echoed: 'x' });
    await expect(c.request('nothing', null)).resolves.toBeNull();
    await expect(c.request('refuse', null)).rejects.toMatchObject({ code: 'LL_INVALID_OPTION', message: 'not like that' });
    const crash = c.request('crash', null);
    await expect(crash).rejects.toMatchObject({ code: 'LL_HANDLER_ERROR' });
    await expect(crash).rejects.not.toMatchObject({ message: expect.stringContaining('secret') });
    await expect(c.request('nope', null)).rejects.toMatchObject({ code: 'LL_NO_HANDLER' });
    // Responses are sequenced envelopes carrying acks like any other.
    const rs = c.envelopes.filter((e) => e.t === 'r');
    expect(rs.every((r) => r.t === 'r' && typeof r.s === 'number')).toBe(true);
  });

  it('sends requests to the client with request(): answers, client errors, timeouts, session end', async () => {
    let session: Socket | undefined;
    running = await startApp((app) => app.ws('/rpc', { lifeline: true }, (socket) => void (session = socket)));
    const c = client('/rpc');
    c.handle('double', (n) => (n as number) * 2);
    c.handle('fail', () => {
      throw Object.assign(new Error('no way'), { code: 'APP_NO' });
    });
    c.handle('hang', () => new Promise(() => {}));
    await c.connect();
    await waitFor(() => session, 'the session');
    await expect(session!.request('double', 21)).resolves.toBe(42);
    const failed = await session!.request('fail', null).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(RequestError);
    expect(failed).toMatchObject({ code: 'LL_REQUEST_FAILED', remote: { code: 'APP_NO', message: 'no way' } });
    await expect(session!.request('hang', null, { timeout: 50 })).rejects.toMatchObject({ code: 'LL_REQUEST_TIMEOUT' });
    const pending = session!.request('hang', null);
    session!.close(1000, 'bye');
    await expect(pending).rejects.toMatchObject({ code: 'LL_SESSION_CLOSED' });
    await expect(session!.request('double', 1)).rejects.toMatchObject({ code: 'LL_SESSION_CLOSED' });
  });

  it('requests in flight across a reconnect complete exactly once, both ways', async () => {
    let session: Socket | undefined;
    let release: (() => void) | undefined;
    let serverCalls = 0;
    running = await startApp((app) =>
      app.ws('/rpc', { lifeline: true }, (socket) => {
        session = socket;
        socket.handle('slow', async (data) => {
          serverCalls++;
          await new Promise<void>((r) => (release = r));
          return `done ${String(data)}`;
        });
      }),
    );
    const c = client('/rpc');
    let clientCalls = 0;
    c.handle('ask', (q) => {
      clientCalls++;
      return `answer to ${String(q)}`;
    });
    await c.connect();
    const fromClient = c.request('slow', 7);
    await waitFor(() => release, 'the server handler to start');
    c.drop();
    await waitFor(() => !(session as unknown as { connected: boolean }).connected, 'the drop');
    // During the gap: the server's answer and a server request wait in the replay buffer.
    release!();
    const fromServer = session!.request('ask', 'q1');
    const welcome = await c.connect();
    expect(welcome).toMatchObject({ resumed: true });
    await expect(fromClient).resolves.toBe('done 7');
    await expect(fromServer).resolves.toBe('answer to q1');
    // A request answered now comes after any replayed duplicate of the earlier ones.
    await c.request('barrier: nobody handles this', null).catch(() => {});
    expect(serverCalls).toBe(1);
    expect(clientCalls).toBe(1);
    expect(c.envelopes.filter((e) => e.t === 'r' && e.d === 'done 7')).toHaveLength(1);
    expect(c.envelopes.filter((e) => e.t === 'q')).toHaveLength(1);
    expect(c.problems).toEqual([]);
  });
});
