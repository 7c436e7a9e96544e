/** docs/conformance.md lists every check the kit has, with its rule, and counts them right. */
import { readFileSync } from 'node:fs';
import { ALL_CHECKS } from '@lifeline/conformance';
import { describe, expect, it } from 'vitest';

const DOC = readFileSync(new URL('../../../docs/conformance.md', import.meta.url), 'utf8');
/** The table rows of "Every check", with markdown's escapes undone. */
const rows = DOC.slice(DOC.indexOf('## Every check'))
  .split('\n')
  .filter((line) => line.startsWith('| §'))
  .map((line) => line.replace(/\\(.)/g, '$1'));

describe('docs/conformance.md', () => {
  it('lists every check with its rule, and nothing else', () => {
    const listed = rows.map((row) => row.split(' | ').slice(0, 2).join(' | '));
    const defined = ALL_CHECKS.map((def) => `| ${def.rule} | ${def.title}${def.multi ? ' (several URLs)' : ''}`);
    expect([...listed].sort()).toEqual([...defined].sort());
  });

  it('counts the checks and rules as the kit has them', () => {
    const runs = ALL_CHECKS.reduce((n, def) => n + (def.codecs === 'both' ? 2 : 1), 0);
    const rules = new Set(ALL_CHECKS.map((def) => def.rule)).size;
    const both = ALL_CHECKS.filter((def) => def.codecs === 'both').length;
    expect(DOC).toContain(`${runs} checks of ${rules} rules and sections (${ALL_CHECKS.length} definitions, ${both} of which run in both wire formats`);
  });
});
