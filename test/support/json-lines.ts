import type { Readable } from 'node:stream';

/** Calls `onValue` with each JSON value a child process prints, one per line. */
export function readJsonLines(stream: Readable, onValue: (value: any) => void): void {
  let pending = '';
  stream.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    let nl;
    while ((nl = pending.indexOf('\n')) !== -1) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (line.trim()) onValue(JSON.parse(line));
    }
  });
}
