// A TCP load balancer on 127.0.0.1, in a process of its own (as a real one would be, so
// that the clients' process does not also carry every byte): each new connection goes to
// the next backend in turn among those in rotation (a refused one is skipped).
//
//   node balancer.js <port> <port> …      prints "listening <port>", then answers lines on stdin:
//     remove <port>   takes the backend out of rotation (answers "removed <port>")
//     count <port>    connections the backend carries now ("count <port> <n>")
//     arrivals        when each backend got each connection: "arrivals <JSON [[epoch ms, port], …]>"
//
// spawnBalancer(ports) runs it and returns an object with the same operations.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** Wall-clock ms with sub-ms resolution, comparable across processes on one machine. */
export const epochNow = () => performance.timeOrigin + performance.now();

function serve(ports) {
  const rotation = [...ports];
  const open = new Map(ports.map((port) => [port, new Set()]));
  const arrivals = [];
  let next = 0;
  const server = net.createServer({ noDelay: true }, (client) => {
    client.pause();
    client.on('error', () => {});
    const tryBackend = (tries) => {
      if (rotation.length === 0 || tries >= ports.length) {
        client.destroy();
        return;
      }
      const port = rotation[next++ % rotation.length];
      const upstream = net.connect({ host: '127.0.0.1', port, noDelay: true });
      let connected = false;
      upstream.once('error', () => {
        if (connected) client.destroy();
        else tryBackend(tries + 1);
      });
      upstream.once('connect', () => {
        connected = true;
        arrivals.push([epochNow(), port]);
        const carried = open.get(port);
        carried.add(client);
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
        const done = () => {
          carried.delete(client);
          client.destroy();
          upstream.destroy();
        };
        client.once('close', done);
        upstream.once('close', done);
      });
    };
    tryBackend(0);
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`listening ${server.address().port}\n`));
  createInterface({ input: process.stdin }).on('line', (line) => {
    const [command, arg] = line.split(' ');
    const port = Number(arg);
    if (command === 'remove') {
      const i = rotation.indexOf(port);
      if (i >= 0) rotation.splice(i, 1);
      process.stdout.write(`removed ${port}\n`);
    } else if (command === 'count') process.stdout.write(`count ${port} ${open.get(port)?.size ?? 0}\n`);
    else if (command === 'arrivals') process.stdout.write(`arrivals ${JSON.stringify(arrivals)}\n`);
  });
  process.stdin.on('end', () => process.exit(0));
}

/** Runs the balancer in a child process (stopped by its PID with `close()`). */
export async function spawnBalancer(ports) {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), ...ports.map(String)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const waiting = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    const i = waiting.findIndex((w) => line.startsWith(w.prefix));
    if (i < 0) return;
    const [w] = waiting.splice(i, 1);
    w.resolve(line.slice(w.prefix.length)); // what follows the prefix
  });
  const answer = (prefix) =>
    new Promise((resolve, reject) => {
      waiting.push({ prefix, resolve });
      exited.then(() => reject(new Error('the balancer exited')));
    });
  const ask = (line, prefix) => {
    const answered = answer(prefix);
    child.stdin.write(`${line}\n`);
    return answered;
  };
  const port = Number(await answer('listening '));
  return {
    port,
    remove: (backend) => ask(`remove ${backend}`, `removed ${backend}`),
    carrying: async (backend) => Number(await ask(`count ${backend}`, `count ${backend} `)),
    arrivals: async () => JSON.parse(await ask('arrivals', 'arrivals ')).map(([at, p]) => ({ at, port: p })),
    async close() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) serve(process.argv.slice(2).map(Number));
