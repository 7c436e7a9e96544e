/**
 * In Lifeline mode the client hides the envelopes (PROTOCOL.md §2): the log shows the
 * application's messages. This reads the envelopes on the wire beside it and turns what
 * matters for debugging into events: a session started, resumed or reset, what the server
 * replayed, what the client resent, duplicates dropped, and sequence gaps.
 * JSON format only (`lifeline.v1`), which is what the console speaks.
 */
import type { Level } from './message-log';

export interface WatchEvent {
  text: string;
  level: Level;
}

interface Envelope {
  t?: unknown;
  s?: unknown;
  sid?: unknown;
  rx?: unknown;
  resumed?: unknown;
  reset?: { reason?: unknown };
  code?: unknown;
  message?: unknown;
}

export class EnvelopeWatch {
  /** Highest `s` received from the server (what the client has delivered). */
  #received = 0;
  /** Highest `s` this client has sent. */
  #sent = 0;
  #duplicates = 0;
  #resent = 0;
  #flushQueued = false;

  constructor(private readonly emit: (event: WatchEvent) => void) {}

  inspect(direction: 'in' | 'out', data: string | ArrayBuffer): void {
    if (typeof data !== 'string') return;
    let e: Envelope;
    try {
      e = JSON.parse(data) as Envelope;
    } catch {
      return; // the client reports undecodable frames itself
    }
    if (typeof e !== 'object' || e === null) return;
    if (direction === 'in') this.#inbound(e);
    else this.#outbound(e);
  }

  #inbound(e: Envelope): void {
    if (e.t === 'welcome') {
      const sid = String(e.sid);
      if (e.resumed === true) {
        this.emit({ text: `session ${sid} resumed: the server had our messages up to #${String(e.rx)}; it replays what it sent after #${this.#received}`, level: 'info' });
      } else if (e.reset) {
        this.emit({ text: `session reset (${String(e.reset.reason)}): the server started a new session ${sid}; numbering starts again`, level: 'warn' });
        this.#received = 0;
        this.#sent = 0;
      } else {
        this.emit({ text: `session ${sid} started`, level: 'info' });
        this.#received = 0;
        this.#sent = 0;
      }
      return;
    }
    if (e.t === 'error') {
      this.emit({ text: `the server refused what this client sent (${String(e.code)}): ${String(e.message)}`, level: 'error' });
      return;
    }
    if (typeof e.s !== 'number') return;
    if (e.s <= this.#received) {
      this.#duplicates++;
      this.#queueFlush();
    } else if (e.s > this.#received + 1) {
      this.emit({ text: `sequence gap: expected #${this.#received + 1} from the server, got #${e.s}; the client closes with 1002`, level: 'error' });
    } else {
      this.#received = e.s;
    }
  }

  #outbound(e: Envelope): void {
    if (e.t === 'hello') {
      this.emit({
        text: e.sid === undefined ? 'hello: asking for a new session' : `hello: resuming session ${String(e.sid)}, having received up to #${String(e.rx)}`,
        level: 'info',
      });
      return;
    }
    if (typeof e.s !== 'number') return;
    if (e.s <= this.#sent) {
      this.#resent++;
      this.#queueFlush();
    } else this.#sent = e.s;
  }

  /** Replays and resends come in bursts: one event per burst, not one per envelope. */
  #queueFlush(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    setTimeout(() => {
      this.#flushQueued = false;
      if (this.#resent) this.emit({ text: `resent ${this.#resent} message(s) the server had not acknowledged`, level: 'info' });
      if (this.#duplicates) this.emit({ text: `dropped ${this.#duplicates} duplicate(s) the server replayed`, level: 'info' });
      this.#resent = this.#duplicates = 0;
    }, 50);
  }
}
