import { once } from 'node:events';
import { connect, type Socket as TcpSocket } from 'node:net';
import { createApp, type App, type Socket } from '@lifeline/server';
import { waitFor } from '../../../test/support/wait.js';

/**
 * A real @lifeline/server on 127.0.0.1 for the composable tests: `/echo` (raw: every
 * message back as text) and `/s` (Lifeline mode: the same echo, plus `handle` answers and
 * any setup a test adds). It counts TCP connections, so a test can prove that nothing
 * connected at all (server rendering), and it can go down and come back on the same port.
 *
 * Not test/support/servers.ts: that module computes a file path from `import.meta.url` at
 * load, which fails under happy-dom (its URL class is not Node's).
 */
export class TestServer {
  app: App | undefined;
  port = 0;
  /** TCP connections accepted since start (every start adds to it), the test's probes not counted. */
  get tcpConnections(): number {
    return this.accepted.filter((port) => !this.probePorts.has(port)).length;
  }
  /** The client port of every TCP connection accepted, in the order accepted. */
  private readonly accepted: number[] = [];
  private readonly probePorts = new Set<number>();
  /** Raw and Lifeline sockets open now. */
  get liveSockets(): number {
    return this.app?.connectionCount ?? 0;
  }
  private readonly tcp = new Set<TcpSocket>();
  /** Sessions and raw sockets the handlers saw, newest last. */
  readonly sockets: Socket[] = [];

  constructor(private readonly setupSession: (socket: Socket) => void = () => {}) {}

  async start(port = this.port): Promise<this> {
    const app = createApp({ logger: 'silent' });
    const echo = async (socket: Socket) => {
      this.sockets.push(socket);
      for await (const message of socket) socket.send(message);
    };
    app.ws('/echo', echo);
    app.ws('/s', { lifeline: true }, (socket) => {
      this.setupSession(socket);
      return echo(socket);
    });
    const listening = await app.listen(port, '127.0.0.1');
    app.server!.on('connection', (tcp: TcpSocket) => {
      this.accepted.push(tcp.remotePort!);
      this.tcp.add(tcp);
      tcp.once('close', () => this.tcp.delete(tcp));
    });
    this.app = app;
    this.port = listening.port;
    return this;
  }

  /**
   * The TCP connections (not counting probes) accepted before a probe connection made now:
   * the server accepts from one listening socket in order, so a connection this process began
   * before the probe (a client created during a render, say) is counted by then, however
   * slowly the machine runs. The barrier of a "nothing connected" check.
   */
  async connectionsBeforeProbe(): Promise<number> {
    const probe = connect(this.port, '127.0.0.1');
    probe.on('error', () => {});
    await once(probe, 'connect');
    const port = probe.localPort!;
    this.probePorts.add(port);
    await waitFor(() => this.accepted.includes(port), 'the probe connection at the server');
    probe.destroy();
    return this.accepted.slice(0, this.accepted.indexOf(port)).filter((p) => !this.probePorts.has(p)).length;
  }

  url(path = '/echo'): string {
    return `ws://127.0.0.1:${this.port}${path}`;
  }

  /** Stops accepting and closes every socket (1012 with a retry-after hint of 0). */
  async stop(): Promise<void> {
    const app = this.app;
    this.app = undefined;
    await app?.shutdown({ drainTimeout: 1000, retryWindow: 0 });
  }

  /** Cuts every TCP connection, no close frame: the server keeps running, Lifeline sessions wait to be resumed. */
  cutConnections(): void {
    for (const tcp of this.tcp) tcp.destroy();
  }

  broadcast(text: string): void {
    for (const socket of this.sockets) if (socket.isOpen) socket.send(text);
  }
}

/** Every server a test file started, stopped after each test. */
export function serverPool() {
  const servers = new Set<TestServer>();
  return {
    async start(setupSession?: (socket: Socket) => void): Promise<TestServer> {
      const server = await new TestServer(setupSession).start();
      servers.add(server);
      return server;
    },
    async stopAll(): Promise<void> {
      for (const server of servers) await server.stop();
      servers.clear();
    },
  };
}
