import { describe, expect, it } from 'vitest';
import { ALL, MessageLog, compileFilter, fromRecord, toRecord } from '../src/lib/message-log';
import { RingBuffer } from '../src/lib/ring-buffer';

describe('RingBuffer', () => {
  it('keeps the newest items up to its capacity, oldest first', () => {
    const ring = new RingBuffer<number>(3);
    expect(ring.push(1)).toBeUndefined();
    ring.push(2);
    ring.push(3);
    expect(ring.push(4)).toBe(1);
    expect([...ring]).toEqual([2, 3, 4]);
    expect(ring.at(0)).toBe(2);
    expect(ring.last()).toBe(4);
    expect(ring.shift()).toBe(2);
    expect([...ring]).toEqual([3, 4]);
    ring.push(5);
    ring.push(6);
    expect(ring.resize(2)).toEqual([4]);
    expect([...ring]).toEqual([5, 6]);
    ring.resize(4);
    ring.push(7);
    expect([...ring]).toEqual([5, 6, 7]);
    ring.clear();
    expect(ring.length).toBe(0);
    expect(() => new RingBuffer(0)).toThrow(RangeError);
  });
});

describe('MessageLog', () => {
  it('records direction, kind, size and gap; events have no gap', () => {
    const log = new MessageLog({ maxEntries: 10, maxBytes: 1e6 });
    log.add({ dir: 'out', text: 'héllo', at: 1000 });
    log.add({ dir: 'sys', text: 'something happened', at: 1001 });
    log.add({ dir: 'in', text: '{"a":1}', at: 1005.5 });
    log.add({ dir: 'in', bytes: new Uint8Array([0, 255]), at: 1010 });
    const entries = [...log.entries()];
    expect(entries.map((e) => [e.dir, e.kind, e.size, e.gap])).toEqual([
      ['out', 'text', 6, undefined],
      ['sys', 'event', 0, undefined],
      ['in', 'json', 7, 5.5],
      ['in', 'binary', 2, 4.5],
    ]);
    expect(log.totals).toMatchObject({ in: 2, out: 1, inBytes: 9, outBytes: 6 });
  });

  it('is a ring: 100,000 entries through a cap of 1,000 keep the newest 1,000, and the filtered view follows', () => {
    const log = new MessageLog({ maxEntries: 1000, maxBytes: 1e9 });
    log.setFilter({ ...ALL, query: '7' });
    for (let i = 0; i < 100_000; i++) log.add({ dir: i % 2 ? 'in' : 'out', text: String(i), at: i });
    expect(log.length).toBe(1000);
    expect(log.totals.evicted).toBe(99_000);
    expect(log.get(99_999)?.text).toBe('99999');
    expect(log.get(98_999)).toBeUndefined();
    const shown = [...log.entries(true)].map((e) => e.text!);
    expect(shown.every((t) => t.includes('7'))).toBe(true);
    expect(shown).toEqual([...log.entries()].map((e) => e.text!).filter((t) => t.includes('7')));
    expect(log.viewAt(0)?.text).toBe(shown[0]);
    expect(log.viewIndexOf(log.viewAt(3)!.seq)).toBe(3);
  });

  it('drops the oldest entries when the byte budget is spent', () => {
    const log = new MessageLog({ maxEntries: 1000, maxBytes: 10_000 });
    for (let i = 0; i < 20; i++) log.add({ dir: 'in', text: 'x'.repeat(1000) });
    expect(log.bytes).toBeLessThanOrEqual(10_000);
    expect(log.length).toBeLessThan(10);
    log.setLimits({ maxEntries: 2, maxBytes: 1e6 });
    expect(log.length).toBe(2);
  });

  it('filters by direction, kind, text and /regex/; binary is searched in hex', () => {
    const log = new MessageLog();
    log.add({ dir: 'out', text: 'ping' });
    log.add({ dir: 'in', text: '{"type":"pong"}' });
    log.add({ dir: 'in', bytes: new Uint8Array([0xca, 0xfe]) });
    log.add({ dir: 'sys', text: 'closed 1006' });
    const shown = (filter: Partial<typeof ALL>) => {
      expect(log.setFilter({ ...ALL, ...filter })).toBeUndefined();
      return [...log.entries(true)].map((e) => e.text ?? 'bytes');
    };
    expect(shown({ out: false, sys: false })).toEqual(['{"type":"pong"}', 'bytes']);
    expect(shown({ json: false })).toEqual(['ping', 'bytes', 'closed 1006']);
    expect(shown({ query: 'PONG' })).toEqual(['{"type":"pong"}']);
    expect(shown({ query: 'ca fe' })).toEqual(['bytes']);
    expect(shown({ query: '/^p.ng$/' })).toEqual(['ping']);
    expect(log.setFilter({ ...ALL, query: '/(/' })).toMatch(/^Bad regular expression/);
    expect(typeof compileFilter(ALL)).toBe('function');
  });

  it('exports NDJSON and imports it back, binary as base64', () => {
    const log = new MessageLog();
    log.add({ dir: 'out', text: 'hi', at: 1_700_000_000_000.25, tag: 'periodic' });
    log.add({ dir: 'in', bytes: new Uint8Array([1, 2, 3]), at: 1_700_000_000_001 });
    log.add({ dir: 'sys', text: 'closed', level: 'warn', at: 1_700_000_000_002 });
    const lines = log.toNdjson();
    expect(JSON.parse(lines[0]!)).toEqual({ time: '2023-11-14T22:13:20.000Z', at: 1_700_000_000_000.25, dir: 'out', type: 'text', size: 2, text: 'hi', tag: 'periodic' });
    expect(JSON.parse(lines[1]!)).toMatchObject({ type: 'binary', base64: 'AQID', size: 3 });
    const copy = new MessageLog();
    const result = copy.importNdjson(lines.join('') + 'not json\n{"dir":"up","at":1,"text":"x"}\n');
    expect(result.imported).toBe(3);
    expect(result.errors).toEqual(['line 4: not JSON', 'line 5: "dir" must be "in", "out" or "sys"']);
    expect([...copy.entries()].map(toRecord)).toEqual([...log.entries()].map(toRecord));
    expect(fromRecord('{"dir":"in","at":5}')).toBe('a message needs "text" or "base64"');
  });

  it('an import is shown, not counted: live totals stay, imported ones are apart, and no rule or chart sees it', () => {
    const log = new MessageLog();
    const seen: string[] = [];
    log.onEntry = (entry) => seen.push(entry.text ?? '');
    log.add({ dir: 'out', text: 'a' });
    log.add({ dir: 'in', text: 'a' });
    const file = log.toNdjson().join('');
    log.importNdjson(file);
    expect(log.length).toBe(4);
    expect(log.totals).toMatchObject({ in: 1, out: 1, inBytes: 1, outBytes: 1, importedIn: 1, importedOut: 1 });
    expect(seen).toEqual(['a', 'a']);
    expect([...log.entries()].map((e) => e.imported ?? false)).toEqual([false, false, true, true]);
    log.clear();
    expect(log.totals).toMatchObject({ in: 0, out: 0, importedIn: 0, importedOut: 0 });
  });
});
