/**
 * The composer's input turned into a message: text as typed, JSON validated (and sent
 * compact), bytes from hex or base64. One function, so the Send button, periodic sends,
 * auto-replies, templates and scripts all agree on what a draft means.
 */
import type { Outgoing } from './connection';
import { parseBase64, parseHex, parseJson, type Parsed } from './payload';

export type DraftMode = 'text' | 'json' | 'hex' | 'base64';

export const DRAFT_MODES: readonly { value: DraftMode; label: string }[] = [
  { value: 'text', label: 'Text' },
  { value: 'json', label: 'JSON' },
  { value: 'hex', label: 'Binary (hex)' },
  { value: 'base64', label: 'Binary (base64)' },
];

export function compose(mode: DraftMode, text: string): Parsed<Outgoing> {
  switch (mode) {
    case 'text':
      return { ok: true, value: { kind: 'text', text } };
    case 'json': {
      const parsed = parseJson(text);
      if (!parsed.ok) return { ok: false, error: `Not JSON: ${parsed.error}` };
      return { ok: true, value: { kind: 'json', text: JSON.stringify(parsed.value), value: parsed.value } };
    }
    case 'hex': {
      const bytes = parseHex(text);
      return bytes.ok ? { ok: true, value: { kind: 'binary', bytes: bytes.value } } : { ok: false, error: `Not hex: ${bytes.error}` };
    }
    case 'base64': {
      const bytes = parseBase64(text);
      return bytes.ok ? { ok: true, value: { kind: 'binary', bytes: bytes.value } } : { ok: false, error: `Not base64: ${bytes.error}` };
    }
  }
}

export function isDraftMode(value: unknown): value is DraftMode {
  return value === 'text' || value === 'json' || value === 'hex' || value === 'base64';
}
