import { LifelineError } from '@lifeline/protocol';

/**
 * Option validation shared by app/options.ts, app/auth/options.ts and rate-limit.ts: every bad value
 * throws LL_INVALID_OPTION with a sentence naming the option, the value and what it expects.
 */

export function invalidOption(name: string, value: unknown, expected: string): LifelineError {
  const shown = typeof value === 'function' ? 'a function' : value === undefined ? 'missing' : JSON.stringify(value);
  return new LifelineError('LL_INVALID_OPTION', `Option ${name} is ${shown}; expected ${expected}.`);
}

/** `value` if it is a finite number ≥ `min` (or, with `exclusive`, above it); `fallback` when unset. */
export function numberOption(name: string, value: number | undefined, fallback: number, min: number, expected: string, exclusive = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || !(exclusive ? value > min : value >= min)) throw invalidOption(name, value, expected);
  return value;
}

/** A finite number above 0, or `fallback` when unset. */
export function positiveOption(name: string, value: number | undefined, fallback: number, expected = 'a positive number'): number {
  return numberOption(name, value, fallback, 0, expected, true);
}
