import { LifelineError } from '@lifeline/protocol';

/**
 * Path patterns such as `/rooms/:id` or `/files/*`. Deliberately small: literal segments,
 * named parameters, and a trailing wildcard. Matching is by segment, not by regular
 * expression, so a pattern cannot be written that matches slowly.
 */
export type RouteParams = Record<string, string>;

type Segment = { kind: 'literal'; value: string } | { kind: 'param'; name: string } | { kind: 'rest' };

export class RoutePattern {
  readonly segments: readonly Segment[];
  /** Literal segments only (no parameter, no `*`): one path matches, up to slashes. */
  readonly literal: boolean;

  constructor(readonly source: string) {
    if (!source.startsWith('/')) {
      throw new LifelineError('LL_INVALID_ROUTE', `Route "${source}" must start with "/", e.g. "/rooms/:id".`);
    }
    const parts = splitPath(source);
    const names = new Set<string>();
    this.segments = parts.map((part, i): Segment => {
      if (part === '*') {
        if (i !== parts.length - 1) {
          throw new LifelineError('LL_INVALID_ROUTE', `Route "${source}": "*" may only be the last segment.`);
        }
        return { kind: 'rest' };
      }
      if (part.startsWith(':')) {
        const name = part.slice(1);
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
          throw new LifelineError('LL_INVALID_ROUTE', `Route "${source}": parameter "${part}" needs a name like ":id".`);
        }
        if (names.has(name)) {
          throw new LifelineError('LL_INVALID_ROUTE', `Route "${source}": parameter ":${name}" appears twice.`);
        }
        names.add(name);
        return { kind: 'param', name };
      }
      return { kind: 'literal', value: part };
    });
    this.literal = this.segments.every((s) => s.kind === 'literal');
  }

  /** Two patterns conflict when they would match exactly the same paths. */
  sameShapeAs(other: RoutePattern): boolean {
    if (other.segments.length !== this.segments.length) return false;
    return this.segments.every((s, i) => {
      const o = other.segments[i]!;
      if (s.kind !== o.kind) return false;
      return s.kind !== 'literal' || s.value === (o as { value: string }).value;
    });
  }

  /** Params for `pathname`, or null when it does not match. `pathname` is percent-encoded. */
  match(pathname: string): RouteParams | null {
    return this.matchParts(splitPath(pathname));
  }

  /** @internal match() on a path already split into segments. */
  matchParts(parts: readonly string[]): RouteParams | null {
    const params: RouteParams = {};
    for (let i = 0; i < this.segments.length; i++) {
      const seg = this.segments[i]!;
      if (seg.kind === 'rest') {
        params['*'] = safeDecode(parts.slice(i).join('/'));
        return params;
      }
      const part = parts[i];
      if (part === undefined) return null;
      if (seg.kind === 'literal') {
        if (part !== seg.value) return null;
      } else {
        if (part === '') return null;
        params[seg.name] = safeDecode(part);
      }
    }
    return parts.length === this.segments.length ? params : null;
  }
}

/** A table of patterns, matched in the order they were added. */
export class RouteTable<T> {
  private readonly entries: { pattern: RoutePattern; value: T }[] = [];
  /**
   * Literal routes by their path as written, unless an earlier route matches that path
   * (the first added wins): every upgrade looks its route up, and most ask for a literal
   * path exactly as the route was written, which needs no split and no match.
   */
  private readonly exact = new Map<string, T>();

  add(path: string, value: T): void {
    const pattern = new RoutePattern(path);
    const clash = this.entries.find((e) => e.pattern.sameShapeAs(pattern));
    if (clash) {
      throw new LifelineError('LL_ROUTE_CONFLICT', `Route "${path}" is already taken by "${clash.pattern.source}".`);
    }
    if (pattern.literal && !this.entries.some((e) => e.pattern.match(path) !== null)) this.exact.set(path, value);
    this.entries.push({ pattern, value });
  }

  find(pathname: string): { value: T; params: RouteParams } | null {
    const exact = this.exact.get(pathname);
    if (exact !== undefined) return { value: exact, params: {} };
    const parts = splitPath(pathname); // once, not once per route
    for (const entry of this.entries) {
      const params = entry.pattern.matchParts(parts);
      if (params) return { value: entry.value, params };
    }
    return null;
  }

  get paths(): string[] {
    return this.entries.map((e) => e.pattern.source);
  }
}

function splitPath(path: string): string[] {
  // "/a/b/" and "/a/b" are the same route; "/" has no segments. (A loop, not a regular
  // expression: this runs on every upgrade.)
  let start = 0;
  let end = path.length;
  while (start < end && path.charCodeAt(start) === 47) start++;
  while (end > start && path.charCodeAt(end - 1) === 47) end--;
  return start === end ? [] : path.slice(start, end).split('/');
}

function safeDecode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part; // malformed %-escape: hand over the text as sent rather than fail the request
  }
}
