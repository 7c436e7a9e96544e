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

/** The runtimes `lifeline serve --runtime` offers; the server-side suites run on each. */
export const SERVER_RUNTIMES = ['node', 'bun', 'deno'] as const;
export type ServerRuntime = (typeof SERVER_RUNTIMES)[number];

/**
 * What a test passes to spawnServe to run `lifeline serve` on `runtime`: the flag, and the
 * environment naming the runtime's binary (installed first if need be).
 */
export function serveOn(runtime: ServerRuntime): { args: string[]; env: NodeJS.ProcessEnv } {
  if (runtime === 'node') return { args: [], env: process.env };
  const { command } = ensureRuntime(runtime);
  return { args: ['--runtime', runtime], env: { ...process.env, [runtime === 'bun' ? 'LIFELINE_BUN' : 'LIFELINE_DENO']: command } };
}
