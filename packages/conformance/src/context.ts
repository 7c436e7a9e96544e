import type { Codec, Envelope } from './codec.js';
import { Peer, type PeerContext, type PeerOptions } from './peer.js';

/** What a run is told (runConformance's second argument, the CLI's flags). */
export interface ConformanceOptions {
  /** Multiplies every deadline: 2 on a slow or busy machine. Default 1. */
  timeoutScale?: number;
  /** Runs only the checks whose rule starts with one of these (`§2.3`, `§2.4 R10`). */
  only?: string[];
  /** Headers for every upgrade (e.g. `Authorization` for a route with authentication, §4.1). */
  headers?: Record<string, string>;
  /** The server's hello timeout (§2.2 R4), not announced on the wire. Default 10000 (`@lifeline/server`'s). */
  helloTimeoutMs?: number;
  /** The server's resume window (§2.4 `expired`), not announced on the wire. Unset: the `expired` check is N/A. */
  resumeWindowMs?: number;
  /** The largest message the server accepts, when its welcome does not say (§2.6 1009). Unset and unannounced: size checks are N/A. */
  maxPayload?: number;
  /** `POST /api/publish` of the deployment (§3.5), for channel checks when clients may not `$publish`. */
  publish?: { url: string; apiKey: string };
  /** Checks run at the same time. Default 4. */
  concurrency?: number;
  /** Called with each result as it is decided; `index` is its place in the final list (checks run in parallel). */
  onResult?: (result: CheckResult, index: number, total: number) => void;
}

export type Status = 'PASS' | 'FAIL' | 'N/A';

export interface CheckResult {
  /** `§2.3 R2`, or a section (`§1.1`) for what the text states without a numbered rule. */
  rule: string;
  title: string;
  codec: Codec | undefined;
  status: Status;
  reason: string;
  ms: number;
}

/** What the kit learned from a first session before the checks ran. */
export interface ServerInfo {
  welcome: Envelope;
  hb: number;
  probe: boolean;
  /** `welcome.max` when the server announces it. */
  max: { size?: number; depth?: number; items?: number; key?: number } | undefined;
  msgpack: boolean;
  msgpackNote: string;
}

export interface CheckContext extends PeerContext {
  readonly url: string;
  readonly urls: readonly string[];
  readonly codec: Codec;
  readonly info: ServerInfo;
  readonly options: ConformanceOptions;
  readonly headers: Record<string, string> | undefined;
  /** A connection with this check's codec (or `codec`), not yet greeted. */
  connect(options?: PeerOptions & { url?: string; codec?: Codec; protocols?: string[] }): Promise<Peer>;
  /** A connection with a new session (hello answered by a welcome). */
  open(options?: PeerOptions & { url?: string; codec?: Codec; hello?: Envelope }): Promise<Peer>;
  /** Per-run cache for what several checks need to find out once (does the route offer channels?). */
  memo<T>(key: string, make: () => Promise<T>): Promise<T>;
}

export interface CheckDef {
  rule: string;
  title: string;
  /** Run once per codec the server offers, or only in JSON mode (the default). */
  codecs?: 'both' | 'json' | 'msgpack';
  /** Needs two or more URLs of one deployment (§2.7); N/A with one. */
  multi?: boolean;
  run(ctx: CheckContext): Promise<string | void>;
}

export type { Peer };
