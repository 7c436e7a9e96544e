/** Types of rolling-restart.js, for test/rolling-restart.test.ts. */
export interface RollingRestartResult {
  /** Clients of the node that got SIGTERM. */
  victims: number;
  /** Per such client, ms from the signal to the open event of its resumed session, sorted. */
  resumedMs: number[];
  p50: number;
  p99: number;
  max: number;
  /** Such clients whose session was not resumed (a reset). */
  resets: number;
  /** ms from the signal to those clients' close events. */
  closed: { p50: number; p99: number };
  /** Per remaining node's port: the most connections it got in any 100 ms after the signal. */
  peakPer100ms: Record<number, number>;
  /** The retry-after hints the clients got, sorted, in ms. */
  hints: number[];
  /** How long opening every session took, in ms. */
  connectMs: number;
}

export function rollingRestart(options: {
  ports: number[];
  sessions: number;
  sigterm: (index: number) => void;
  path?: string;
  timeoutMs?: number;
  stableAfter?: number;
}): Promise<RollingRestartResult>;
