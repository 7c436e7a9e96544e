export type RuntimeName = 'bun' | 'deno';
export interface RuntimeCommand {
  /** The runtime's binary. */
  command: string;
  /** Arguments before the script. */
  args: string[];
  version: string;
}
export const RUNTIMES: Record<RuntimeName, { version: string; args: string[] }>;
export function ensureRuntime(name: RuntimeName, env?: NodeJS.ProcessEnv): RuntimeCommand;
