import { execFile } from 'node:child_process';
import type { ConformanceReport } from '@lifeline/conformance';
import { CLI } from '../../../test/support/servers.js';

/** `lifeline conformance …` as a child process: its exit status, stdout and stderr. */
export function runCli(args: string[], timeoutMs = 280_000): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'conformance', ...args], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const status = error ? ((error as { code?: unknown }).code as number | null) : 0;
      resolve({ status: typeof status === 'number' ? status : null, stdout, stderr });
    });
  });
}

/** `lifeline conformance --json …`: the report it printed. */
export async function runCliJson(args: string[]): Promise<{ status: number | null; report: ConformanceReport; stderr: string }> {
  const { status, stdout, stderr } = await runCli(['--json', ...args]);
  let report: ConformanceReport;
  try {
    report = JSON.parse(stdout) as ConformanceReport;
  } catch {
    throw new Error(`lifeline conformance --json printed no JSON (exit ${status}):\n${stdout.slice(0, 2000)}\n${stderr.slice(0, 2000)}`);
  }
  return { status, report, stderr };
}
