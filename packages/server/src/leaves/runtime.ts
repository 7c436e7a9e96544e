/**
 * The runtime this process runs on, told by its globals (`Bun`, `Deno`), read once at load.
 * The one place that asks: the native server's choice (transport/native.ts) and what is
 * tuned per engine (the rate limiter's clock, the JSON codec's encoder) read it from here.
 */
export type RuntimeName = 'node' | 'bun' | 'deno';

export const RUNNING_ON: RuntimeName = 'Bun' in globalThis ? 'bun' : 'Deno' in globalThis ? 'deno' : 'node';
