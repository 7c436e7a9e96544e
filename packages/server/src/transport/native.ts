/**
 * Which server `App.listen()` uses: Node's `http` with `ws`, or the native server of the
 * runtime the process runs on (Bun.serve, Deno.serve). `auto` (the default) picks by
 * runtime, so a `createApp()` app runs unchanged on each.
 */
import { LifelineError } from '@lifeline/protocol';
import { BunNativeServer } from './bun/bun-server.js';
import { DenoNativeServer } from './deno/deno-server.js';
import { RUNNING_ON, type RuntimeName } from '../leaves/runtime.js';
import type { NativeServer, NativeServerSettings } from './server.js';

export type RuntimeChoice = 'auto' | RuntimeName;

/** The native server for `choice`, or undefined for Node's own (`ws` on `node:http`). */
export function nativeServerFor(choice: RuntimeChoice, settings: NativeServerSettings): NativeServer | undefined {
  const wanted = choice === 'auto' ? RUNNING_ON : choice;
  if (wanted === 'node') return undefined;
  if (wanted !== RUNNING_ON) {
    throw new LifelineError('LL_INVALID_OPTION', `runtime "${wanted}" needs the process to run on ${wanted === 'bun' ? 'Bun' : 'Deno'}; this one runs on ${RUNNING_ON}. Leave runtime at "auto" to use the server of the runtime you run on.`);
  }
  return wanted === 'bun' ? new BunNativeServer(settings) : new DenoNativeServer(settings);
}
