/**
 * The message log of one tab: a ring buffer bounded by a message count and a byte budget,
 * a filtered view over it that is kept up to date one entry at a time, and NDJSON export
 * and import.
 *
 * The log is plain data, not Vue-reactive: making 100,000 entries reactive would wrap each
 * in a proxy and cost far more than the entries themselves. The view asks for a repaint
 * through `onChange`, and the component repaints at most once per animation frame (none at
 * all while the tab is hidden, where capture goes on regardless).
 */
import { RingBuffer } from './ring-buffer';
import { isJsonText, parseBase64, toBase64, toHex, utf8Length } from './payload';

export type Direction = 'in' | 'out' | 'sys';
export type Kind = 'text' | 'json' | 'binary' | 'event';
export type Level = 'info' | 'warn' | 'error';

export interface LogEntry {
  /** Increases by one per entry for the life of the log: a stable key, and the ring index plus an offset. */
  readonly seq: number;
  /** Epoch ms, with a fraction (performance.now() precision). */
  readonly at: number;
  /** Ms since the previous message (not counting events); undefined for the first and for events. */
  readonly gap: number | undefined;
  readonly dir: Direction;
  readonly kind: Kind;
  /** Bytes: UTF-8 length of a text frame, length of a binary one, 0 for an event. */
  readonly size: number;
  /** A text frame, or an event's sentence. */
  readonly text?: string;
  readonly bytes?: Uint8Array;
  /** Events only. */
  readonly level?: Level;
  /** Where it came from when not typed: `heartbeat`, `auto-reply`, `periodic`, `burst`, `lifeline`. */
  readonly tag?: string;
  /** Read from a file (Import), not seen on this connection: shown, never counted as traffic or fed to rules and charts. */
  readonly imported?: true;
}

export type EntryInit = (
  | { dir: 'in' | 'out'; text: string; tag?: string; at?: number; kind?: 'text' | 'json' }
  | { dir: 'in' | 'out'; bytes: Uint8Array; tag?: string; at?: number }
  | { dir: 'sys'; text: string; level?: Level; tag?: string; at?: number }
) & { imported?: true };

export interface LogFilter {
  in: boolean;
  out: boolean;
  sys: boolean;
  text: boolean;
  json: boolean;
  binary: boolean;
  /** Case-insensitive text, or `/regex/flags`. Binary frames are searched in hex (`00 ff`). */
  query: string;
}

export const ALL: LogFilter = { in: true, out: true, sys: true, text: true, json: true, binary: true, query: '' };

export interface LogLimits {
  /** Most entries kept. */
  maxEntries: number;
  /** Most payload bytes kept (a count cap alone would let 10,000 frames of 1 MiB fill 10 GiB). */
  maxBytes: number;
}

export const DEFAULT_LIMITS: LogLimits = { maxEntries: 10_000, maxBytes: 64 * 1024 * 1024 };

/** Wall-clock ms with sub-ms precision, monotonic within a page. */
export const now = (): number => performance.timeOrigin + performance.now();

const ZERO_TOTALS = { in: 0, out: 0, inBytes: 0, outBytes: 0, importedIn: 0, importedOut: 0, evicted: 0 };

export class MessageLog {
  #ring: RingBuffer<LogEntry>;
  #maxBytes: number;
  #bytes = 0;
  #nextSeq = 0;
  #lastMessageAt: number | undefined;
  /** The same for imported messages: their gaps are the file's own. */
  #lastImportedAt: number | undefined;
  /** Seqs of the entries that pass the filter, ascending; entries before `#viewStart` were evicted. */
  #view: number[] = [];
  #viewStart = 0;
  #test: (entry: LogEntry) => boolean = () => true;
  #filtered = false;
  /**
   * Since the log was made or cleared: every message of this connection, including those
   * evicted since (`in`, `out` and their bytes), and, apart, the messages read from files
   * (`importedIn`, `importedOut`): an import shows old traffic, it is not new traffic.
   */
  readonly totals = { ...ZERO_TOTALS };
  /** Called after every change; the component batches repaints. */
  onChange: (() => void) | undefined;
  /** Called for every new entry (charts, echo matching, rules). */
  onEntry: ((entry: LogEntry) => void) | undefined;

  constructor(limits: LogLimits = DEFAULT_LIMITS) {
    this.#ring = new RingBuffer(limits.maxEntries);
    this.#maxBytes = limits.maxBytes;
  }

  get length(): number {
    return this.#ring.length;
  }

  get limits(): LogLimits {
    return { maxEntries: this.#ring.capacity, maxBytes: this.#maxBytes };
  }

  /** Payload bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  get filtered(): boolean {
    return this.#filtered;
  }

  add(init: EntryInit): LogEntry {
    const at = init.at ?? now();
    const imported = init.imported;
    let entry: LogEntry;
    if (init.dir === 'sys') {
      entry = { seq: this.#nextSeq++, at, gap: undefined, dir: 'sys', kind: 'event', size: 0, text: init.text, level: init.level ?? 'info', tag: init.tag };
      if (imported) (entry as { imported?: true }).imported = true;
    } else {
      const last = imported ? this.#lastImportedAt : this.#lastMessageAt;
      const gap = last === undefined ? undefined : Math.max(0, at - last);
      if (imported) this.#lastImportedAt = at;
      else this.#lastMessageAt = at;
      if ('bytes' in init) {
        entry = { seq: this.#nextSeq++, at, gap, dir: init.dir, kind: 'binary', size: init.bytes.byteLength, bytes: init.bytes, tag: init.tag };
      } else {
        const kind = init.kind ?? (isJsonText(init.text) ? 'json' : 'text');
        entry = { seq: this.#nextSeq++, at, gap, dir: init.dir, kind, size: utf8Length(init.text), text: init.text, tag: init.tag };
      }
      const totals = this.totals;
      if (imported) {
        (entry as { imported?: true }).imported = true; // set only here: live entries keep one shape
        if (init.dir === 'in') totals.importedIn++;
        else totals.importedOut++;
      } else if (init.dir === 'in') {
        totals.in++;
        totals.inBytes += entry.size;
      } else {
        totals.out++;
        totals.outBytes += entry.size;
      }
    }
    this.#append(entry);
    // Imported entries are history: no rule answers them, no chart counts them.
    if (!imported) this.onEntry?.(entry);
    this.onChange?.();
    return entry;
  }

  #append(entry: LogEntry): void {
    const evicted = this.#ring.push(entry);
    if (evicted) this.#evicted(evicted);
    this.#bytes += weight(entry);
    while (this.#bytes > this.#maxBytes && this.#ring.length > 1) this.#evicted(this.#ring.shift()!);
    if (this.#test(entry)) this.#view.push(entry.seq);
  }

  #evicted(entry: LogEntry): void {
    this.#bytes -= weight(entry);
    this.totals.evicted++;
    if (this.#view[this.#viewStart] === entry.seq) {
      this.#viewStart++;
      // Compact now and then, so the dead prefix never outgrows the live part.
      if (this.#viewStart > 4096 && this.#viewStart * 2 > this.#view.length) {
        this.#view = this.#view.slice(this.#viewStart);
        this.#viewStart = 0;
      }
    }
  }

  /** The entry with this seq, if it is still held. */
  get(seq: number): LogEntry | undefined {
    const first = this.#ring.at(0);
    return first === undefined ? undefined : this.#ring.at(seq - first.seq);
  }

  /** Entries that pass the filter. */
  get viewLength(): number {
    return this.#view.length - this.#viewStart;
  }

  viewAt(index: number): LogEntry | undefined {
    const seq = this.#view[this.#viewStart + index];
    return seq === undefined ? undefined : this.get(seq);
  }

  /** Position of `seq` in the view, or the position of the first later entry (binary search). */
  viewIndexOf(seq: number): number {
    let lo = this.#viewStart;
    let hi = this.#view.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#view[mid]! < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo - this.#viewStart;
  }

  /** Applies a filter; returns an error for a bad `/regex/`, and then keeps the previous filter. */
  setFilter(filter: LogFilter): string | undefined {
    const compiled = compileFilter(filter);
    if (typeof compiled === 'string') return compiled;
    this.#test = compiled;
    this.#filtered = compiled !== passAll;
    const view: number[] = [];
    for (const entry of this.#ring) if (compiled(entry)) view.push(entry.seq);
    this.#view = view;
    this.#viewStart = 0;
    this.onChange?.();
    return undefined;
  }

  setLimits(limits: LogLimits): void {
    this.#maxBytes = limits.maxBytes;
    for (const entry of this.#ring.resize(limits.maxEntries)) this.#evicted(entry);
    while (this.#bytes > this.#maxBytes && this.#ring.length > 1) this.#evicted(this.#ring.shift()!);
    this.onChange?.();
  }

  clear(): void {
    this.#ring.clear();
    this.#bytes = 0;
    this.#view = [];
    this.#viewStart = 0;
    this.#lastMessageAt = this.#lastImportedAt = undefined;
    Object.assign(this.totals, ZERO_TOTALS);
    this.onChange?.();
  }

  /** Entries oldest first: the filtered view, or everything held. */
  *entries(onlyView = false): IterableIterator<LogEntry> {
    if (!onlyView) {
      yield* this.#ring;
      return;
    }
    for (let i = 0; i < this.viewLength; i++) {
      const entry = this.viewAt(i);
      if (entry) yield entry;
    }
  }

  /** NDJSON, one entry a line (see `toRecord`); as chunks, for a Blob. */
  toNdjson(onlyView = false): string[] {
    const lines: string[] = [];
    for (const entry of this.entries(onlyView)) lines.push(JSON.stringify(toRecord(entry)) + '\n');
    return lines;
  }

  /** Appends entries read from NDJSON (kept in their order and with their times); returns problems by line. */
  importNdjson(text: string): { imported: number; errors: string[] } {
    const errors: string[] = [];
    let imported = 0;
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (line === '') continue;
      const init = fromRecord(line);
      if (typeof init === 'string') {
        if (errors.length < 20) errors.push(`line ${i + 1}: ${init}`);
        continue;
      }
      this.add({ ...init, imported: true });
      imported++;
    }
    return { imported, errors };
  }
}

/** What an entry costs against the byte budget: its payload, plus a fixed overhead for the object. */
function weight(entry: LogEntry): number {
  return entry.size + (entry.kind === 'event' ? (entry.text?.length ?? 0) * 2 : 0) + 96;
}

const passAll = (): boolean => true;

/** A predicate for a filter, or the reason it cannot be one. */
export function compileFilter(filter: LogFilter): ((entry: LogEntry) => boolean) | string {
  const dirs = { in: filter.in, out: filter.out, sys: filter.sys };
  const kinds = { text: filter.text, json: filter.json, binary: filter.binary, event: true };
  let match: ((haystack: string) => boolean) | undefined;
  const query = filter.query.trim();
  const regex = /^\/(.+)\/([a-z]*)$/s.exec(query);
  if (regex) {
    let re: RegExp;
    try {
      re = new RegExp(regex[1]!, regex[2]!.replace(/[gy]/g, ''));
    } catch (error) {
      return `Bad regular expression: ${(error as Error).message}`;
    }
    match = (haystack) => re.test(haystack);
  } else if (query !== '') {
    const needle = query.toLowerCase();
    match = (haystack) => haystack.toLowerCase().includes(needle);
  }
  const everything = Object.values(dirs).every(Boolean) && Object.values(kinds).every(Boolean);
  if (everything && !match) return passAll;
  return (entry) => {
    if (!dirs[entry.dir] || !kinds[entry.kind]) return false;
    if (!match) return true;
    // Binary is searched in hex; the first 4 KiB are enough to find a header or a marker.
    return match(entry.bytes ? toHex(entry.bytes, 4096) : (entry.text ?? ''));
  };
}

/** One NDJSON record: `{ time, at, dir, type, size, text | base64, level?, tag? }`. */
export interface LogRecord {
  time: string;
  at: number;
  dir: Direction;
  type: Kind;
  size: number;
  text?: string;
  base64?: string;
  level?: Level;
  tag?: string;
}

export function toRecord(entry: LogEntry): LogRecord {
  const record: LogRecord = { time: new Date(entry.at).toISOString(), at: Math.round(entry.at * 1000) / 1000, dir: entry.dir, type: entry.kind, size: entry.size };
  if (entry.bytes) record.base64 = toBase64(entry.bytes);
  else if (entry.text !== undefined) record.text = entry.text;
  if (entry.level && entry.dir === 'sys') record.level = entry.level;
  if (entry.tag) record.tag = entry.tag;
  return record;
}

/** Reads one NDJSON line back; a string is what was wrong with it. */
export function fromRecord(line: string): EntryInit | string {
  let r: Partial<LogRecord>;
  try {
    r = JSON.parse(line) as Partial<LogRecord>;
  } catch {
    return 'not JSON';
  }
  if (typeof r !== 'object' || r === null) return 'not an object';
  const at = typeof r.at === 'number' ? r.at : typeof r.time === 'string' ? Date.parse(r.time) : NaN;
  if (!Number.isFinite(at)) return 'no "at" or "time"';
  const tag = typeof r.tag === 'string' ? r.tag : undefined;
  if (r.dir === 'sys') {
    if (typeof r.text !== 'string') return 'an event needs "text"';
    const level = r.level === 'warn' || r.level === 'error' ? r.level : 'info';
    return { dir: 'sys', text: r.text, level, at, tag };
  }
  if (r.dir !== 'in' && r.dir !== 'out') return '"dir" must be "in", "out" or "sys"';
  if (typeof r.base64 === 'string') {
    const bytes = parseBase64(r.base64);
    if (!bytes.ok) return `"base64": ${bytes.error}`;
    return { dir: r.dir, bytes: bytes.value, at, tag };
  }
  if (typeof r.text !== 'string') return 'a message needs "text" or "base64"';
  return { dir: r.dir, text: r.text, at, tag, kind: r.type === 'json' ? 'json' : r.type === 'text' ? 'text' : undefined };
}
