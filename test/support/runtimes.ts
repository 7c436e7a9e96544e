/**
 * Bun and Deno for the tests that run Lifeline on them, from npm on first use
 * (scripts/runtimes.mjs); a test that cannot get one fails with a message naming it.
 */
import { ensureRuntime as ensure, RUNTIMES, type RuntimeCommand, type RuntimeName } from '../../scripts/runtimes.mjs';
import { npmEnvironment } from './npm.js';

export { RUNTIMES, type RuntimeName };

export function ensureRuntime(name: RuntimeName): RuntimeCommand {
  return ensure(name, npmEnvironment());
}
