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

  it('finds a literal route by its path as written and by the same path with other slashes, in the order routes were added', () => {
    const table = new RouteTable<string>();
    table.add('/echo', 'echo');
    table.add('/:name', 'named');
    table.add('/', 'root');
    table.add('/files/*', 'files');
    table.add('/files/readme', 'readme'); // after /files/*, which matches it first
    for (const path of ['/echo', '/echo/', '//echo']) expect(table.find(path)).toEqual({ value: 'echo', params: {} });
    expect(table.find('/other')).toEqual({ value: 'named', params: { name: 'other' } });
    expect(table.find('/')).toEqual({ value: 'root', params: {} });
    expect(table.find('/files/readme')).toEqual({ value: 'files', params: { '*': 'readme' } });
    expect(table.find('/echo/x')).toBeNull();
    const params = table.find('/echo')!.params;
    params.x = '1'; // each connection gets params of its own
    expect(table.find('/echo')!.params).toEqual({});
  });
});
