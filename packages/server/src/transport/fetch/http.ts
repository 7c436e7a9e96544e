/**
 * The app's HTTP side on a fetch-style server (Bun.serve, Deno.serve): a `Request` seen as
 * the `IncomingMessage` handlers read (method, url, headers, the peer's address, the body as
 * a stream), and a `ServerResponse`-shaped writable whose answer becomes the `Response` the
 * runtime sends. Handlers written for Node's `http` (the app's own admin endpoints, a static
 * file piped into the response, `app.get(...)` handlers of one's own) run unchanged.
 *
 * Only the parts of `IncomingMessage`/`ServerResponse` an HTTP handler commonly uses are
 * here (docs/server.md, "Runtimes"): no trailers, no `response.socket`, no informational
 * (1xx) answers.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Readable, Writable } from 'node:stream';

/** The peer of a request, as the runtime reports it. */
export interface FetchPeer {
  readonly address: string;
  readonly port: number;
}

/** Statuses whose answer has no body (fetch refuses one). */
const NO_BODY = new Set([101, 204, 205, 304]);

/** A fetch `Request` as the `IncomingMessage` the app's handlers read. */
export class FetchIncoming extends Readable {
  readonly method: string;
  /** Path and query, as Node gives them. */
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly httpVersion = '1.1';
  readonly httpVersionMajor = 1;
  readonly httpVersionMinor = 1;
  /** The parts of a `net.Socket` handlers read: the peer's address and port. */
  readonly socket: { readonly remoteAddress: string; readonly remotePort: number; readonly encrypted: boolean };
  private reader: ReadableStreamDefaultReader<Uint8Array> | undefined;

  constructor(
    readonly fetchRequest: Request,
    peer: FetchPeer,
  ) {
    super();
    this.method = fetchRequest.method;
    const url = fetchRequest.url;
    // The request line's target: everything after the origin.
    const start = url.indexOf('/', url.indexOf('//') + 2);
    this.url = start === -1 ? '/' : url.slice(start);
    const headers: Record<string, string> = {};
    fetchRequest.headers.forEach((value, name) => {
      headers[name] = value;
    });
    this.headers = headers;
    this.socket = { remoteAddress: peer.address, remotePort: peer.port, encrypted: url.startsWith('https:') };
  }

  get connection(): FetchIncoming['socket'] {
    return this.socket;
  }

  override _read(): void {
    if (this.reader === undefined) {
      let body: ReadableStream<Uint8Array> | null;
      try {
        body = this.fetchRequest.body;
      } catch (error) {
        // Deno: the answer went out before the body was read, and the request is closed.
        this.cutOff(error);
        return;
      }
      if (body === null) {
        this.push(null);
        return;
      }
      this.reader = body.getReader();
    }
    this.reader.read().then(
      ({ done, value }) => {
        if (done) this.push(null);
        else this.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
      },
      (error: unknown) => this.cutOff(error),
    );
  }

  /**
   * The runtime cut the body off (the answer went out first, or the peer went away): an
   * error for a handler that listens, else the end; never an unhandled 'error'.
   */
  private cutOff(error: unknown): void {
    if (this.listenerCount('error') > 0) this.destroy(error instanceof Error ? error : new Error(String(error)));
    else this.push(null);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.reader?.cancel().catch(() => {});
    callback(error);
  }
}

/**
 * A `ServerResponse`-shaped writable. An answer ended in the turn it began (every answer of
 * the app's own: JSON, text, a 304) goes out as one `Response` with its body; one still
 * being written a turn later (a file piped in) goes out as a streamed body, with the
 * writable's backpressure tied to the stream's.
 */
export class FetchOutgoing extends Writable {
  statusCode = 200;
  statusMessage = '';
  private readonly head = new Headers();
  private sent = false;
  private chunks: Uint8Array[] = [];
  private controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  private waitingWrite: (() => void) | undefined;
  /** The app ended the answer: every byte of it is with the runtime (in a body or a closed stream's queue). */
  private ended = false;
  private resolveAnswer!: (response: Response) => void;
  private rejectAnswer!: (error: Error) => void;
  /** The Response for the runtime: settles once the head is known (streamed) or the answer has ended. */
  readonly answer: Promise<Response>;

  constructor(private readonly method: string) {
    super();
    this.answer = new Promise<Response>((resolve, reject) => {
      this.resolveAnswer = resolve;
      this.rejectAnswer = reject;
    });
  }

  get headersSent(): boolean {
    return this.sent;
  }

  setHeader(name: string, value: number | string | readonly string[]): this {
    this.head.delete(name);
    if (Array.isArray(value)) for (const item of value) this.head.append(name, String(item));
    else this.head.set(name, String(value));
    return this;
  }

  getHeader(name: string): string | undefined {
    return this.head.get(name) ?? undefined;
  }

  hasHeader(name: string): boolean {
    return this.head.has(name);
  }

  removeHeader(name: string): void {
    this.head.delete(name);
  }

  getHeaders(): Record<string, string> {
    // forEach, not iteration: the DOM typings the tests compile with have no iterable Headers.
    const headers: Record<string, string> = {};
    this.head.forEach((value, name) => (headers[name] = value));
    return headers;
  }

  writeHead(status: number, message?: string | OutgoingHttpHeaders, headers?: OutgoingHttpHeaders): this {
    this.statusCode = status;
    if (typeof message === 'string') this.statusMessage = message;
    else headers = message;
    if (headers !== undefined) {
      for (const [name, value] of Object.entries(headers)) if (value !== undefined) this.setHeader(name, value);
    }
    return this;
  }

  flushHeaders(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const controller = this.controller;
    if (controller === undefined) {
      this.chunks.push(bytes);
      // Not ended in this turn: the rest streams.
      if (this.chunks.length === 1) setImmediate(() => this.startStream());
      callback();
      return;
    }
    controller.enqueue(bytes);
    if ((controller.desiredSize ?? 1) > 0) callback();
    else this.waitingWrite = () => callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.ended = true;
    if (this.controller !== undefined) this.controller.close();
    else if (!this.sent) {
      const body = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
      this.chunks = [];
      this.respond(this.bodyAllowed ? body : null);
    }
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // After the end there is nothing to cut off. The writable destroys itself once finished
    // (autoDestroy), while a closed stream may still hold its last chunks for the runtime to
    // read: erroring it then would drop them and end the connection mid-body.
    if (this.ended) return callback(error);
    // Cut off: a streamed body fails (the runtime drops the connection); an answer not begun becomes the runtime's error answer.
    const failure = error ?? new Error('response destroyed before it ended');
    if (this.controller !== undefined) this.controller.error(failure);
    else if (!this.sent) {
      this.sent = true;
      this.rejectAnswer(failure);
    }
    this.waitingWrite?.();
    callback(error);
  }

  private get bodyAllowed(): boolean {
    return this.method !== 'HEAD' && !NO_BODY.has(this.statusCode);
  }

  private startStream(): void {
    if (this.sent || this.writableFinished || this.destroyed) return;
    const held = this.chunks;
    this.chunks = [];
    if (!this.bodyAllowed) {
      this.respond(null);
      return;
    }
    const stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.controller = controller;
          for (const chunk of held) controller.enqueue(chunk);
        },
        pull: () => {
          const waiting = this.waitingWrite;
          this.waitingWrite = undefined;
          waiting?.();
        },
        cancel: () => {
          this.destroy();
        },
      },
      { highWaterMark: 4 },
    );
    this.respond(stream);
  }

  private respond(body: Uint8Array | ReadableStream<Uint8Array> | null): void {
    this.sent = true;
    const init = this.statusMessage === '' ? { status: this.statusCode, headers: this.head } : { status: this.statusCode, statusText: this.statusMessage, headers: this.head };
    this.resolveAnswer(new Response(body as ConstructorParameters<typeof Response>[0], init));
  }
}

/** Runs `handle` (the app's HTTP entry) on a fetch Request and resolves with its answer. */
export function answerFetch(
  request: Request,
  peer: FetchPeer,
  handle: (request: IncomingMessage, response: ServerResponse) => void,
  incoming: FetchIncoming = new FetchIncoming(request, peer),
): Promise<Response> {
  const outgoing = new FetchOutgoing(request.method);
  handle(incoming as unknown as IncomingMessage, outgoing as unknown as ServerResponse);
  return outgoing.answer;
}
