import { describe, expect, it } from 'vitest';
import { RoutePattern, RouteTable } from '../src/leaves/router.js';

describe('RoutePattern', () => {
  it('matches literal segments, ignoring a trailing slash', () => {
    const p = new RoutePattern('/echo');
    expect(p.match('/echo')).toEqual({});
    expect(p.match('/echo/')).toEqual({});
    expect(p.match('/echo/x')).toBeNull();
    expect(p.match('/ech')).toBeNull();
  });

  it('captures and decodes named parameters', () => {
    const p = new RoutePattern('/rooms/:id/users/:user');
    expect(p.match('/rooms/7/users/ana%20b')).toEqual({ id: '7', user: 'ana b' });
    expect(p.match('/rooms//users/x')).toBeNull();
    expect(p.match('/rooms/%E0%A4%A/users/x')).toEqual({ id: '%E0%A4%A', user: 'x' });
  });

  it('captures the rest of the path with a trailing *', () => {
    expect(new RoutePattern('/files/*').match('/files/a/b.txt')).toEqual({ '*': 'a/b.txt' });
    expect(new RoutePattern('/files/*').match('/files')).toEqual({ '*': '' });
  });

  it('refuses malformed patterns with a stable code', () => {
    expect(() => new RoutePattern('rooms')).toThrow(expect.objectContaining({ code: 'LL_INVALID_ROUTE' }));
    expect(() => new RoutePattern('/a/*/b')).toThrow(/only be the last segment/);
    expect(() => new RoutePattern('/a/:')).toThrow(/needs a name/);
    expect(() => new RoutePattern('/a/:x/:x')).toThrow(/appears twice/);
  });
});

describe('RouteTable', () => {
  it('refuses two routes that match the same paths', () => {
    const table = new RouteTable<number>();
    table.add('/rooms/:id', 1);
    expect(() => table.add('/rooms/:name', 2)).toThrow(expect.objectContaining({ code: 'LL_ROUTE_CONFLICT' }));
    table.add('/rooms/lobby', 3);
    expect(table.find('/rooms/lobby')?.value).toBe(1); // first added wins
    expect(table.paths).toEqual(['/rooms/:id', '/rooms/lobby']);
  });
});
