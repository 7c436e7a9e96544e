/**
 * Every error code the server names (thrown as a LifelineError, answered in a Lifeline
 * `r.e` or in an HTTP body) is in the error list (`LifelineErrorCode`, packages/protocol/src/errors.ts) and in the
 * server's docs (docs/server.md, "Errors").
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const CODE = /\bLL_[A-Z][A-Z0-9_]*\b/g;

/** The codes named anywhere in the .ts files under `dir`. */
function codesUsedIn(dir: string): Set<string> {
  const codes = new Set<string>();
  for (const entry of readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    for (const [code] of readFileSync(join(entry.parentPath, entry.name), 'utf8').matchAll(CODE)) codes.add(code);
  }
  return codes;
}

/** The string literals of the `LifelineErrorCode` union, read from its declaration. */
function errorList(): Set<string> {
  const file = join(ROOT, 'packages/protocol/src/errors.ts');
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022);
  const alias = source.statements.find((s): s is ts.TypeAliasDeclaration => ts.isTypeAliasDeclaration(s) && s.name.text === 'LifelineErrorCode');
  if (alias === undefined || !ts.isUnionTypeNode(alias.type)) throw new Error('LifelineErrorCode is not a union in packages/protocol/src/errors.ts');
  return new Set(alias.type.types.map((t) => (ts.isLiteralTypeNode(t) && ts.isStringLiteral(t.literal) ? t.literal.text : `not a string literal: ${t.getText(source)}`)));
}

/** The codes docs/server.md names in its "Errors" section. */
function documented(): Set<string> {
  const text = readFileSync(join(ROOT, 'docs/server.md'), 'utf8');
  const start = text.indexOf('\n## Errors\n');
  if (start === -1) throw new Error('docs/server.md has no "## Errors" section');
  const end = text.indexOf('\n## ', start + 1);
  return new Set([...text.slice(start, end === -1 ? undefined : end).matchAll(CODE)].map(([code]) => code));
}

describe('error codes', () => {
  const used = codesUsedIn('packages/server/src');

  it('the server uses codes (the reading works)', () => {
    expect(used).toContain('LL_INVALID_OPTION');
    expect(used.size).toBeGreaterThan(20);
  });

  it('every code the server names is in LifelineErrorCode', () => {
    const list = errorList();
    expect([...used].filter((code) => !list.has(code)).sort()).toEqual([]);
  });

  it('every one of them is in docs/server.md "Errors"', () => {
    const docs = documented();
    expect([...used].filter((code) => !docs.has(code)).sort()).toEqual([]);
  });
});
