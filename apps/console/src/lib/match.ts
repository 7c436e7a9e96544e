/**
 * "Does this message match?" for auto-reply rules: text equal, containing, matching a
 * regular expression, or JSON containing a pattern. JSON containment is the scripts' own
 * (the script module is shared with `lifeline connect --script`, so both judge alike).
 */
import { jsonContains } from './script';

export { jsonContains };

export type MatchKind = 'equals' | 'contains' | 'regex' | 'json';

export const MATCH_KINDS: readonly { value: MatchKind; label: string }[] = [
  { value: 'contains', label: 'text contains' },
  { value: 'equals', label: 'text equals' },
  { value: 'regex', label: 'text matches /regex/' },
  { value: 'json', label: 'JSON contains' },
];

/** A predicate for text messages, or the reason the pattern is unusable. */
export function compileMatch(kind: MatchKind, pattern: string): ((text: string) => boolean) | string {
  switch (kind) {
    case 'equals':
      return (text) => text === pattern;
    case 'contains':
      return (text) => text.includes(pattern);
    case 'regex': {
      const literal = /^\/(.+)\/([a-z]*)$/s.exec(pattern);
      try {
        const re = literal ? new RegExp(literal[1]!, literal[2]!.replace(/[gy]/g, '')) : new RegExp(pattern);
        return (text) => re.test(text);
      } catch (error) {
        return `Bad regular expression: ${(error as Error).message}`;
      }
    }
    case 'json': {
      let expected: unknown;
      try {
        expected = JSON.parse(pattern);
      } catch (error) {
        return `The pattern is not JSON: ${(error as Error).message}`;
      }
      return (text) => {
        try {
          return jsonContains(JSON.parse(text), expected);
        } catch {
          return false;
        }
      };
    }
  }
}
