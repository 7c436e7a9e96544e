import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

/**
 * The MessagePack codec lives behind its own entry point, so that a browser bundle of the
 * main entry (what @lifeline/client pulls in) never contains it.
 */
async function bundle(entry: string): Promise<{ inputs: string[]; bytes: number }> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL(entry, import.meta.url))],
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  return { inputs: Object.keys(result.metafile.inputs), bytes: result.outputFiles[0]!.contents.length };
}

describe('entry points', () => {
  it('the main entry bundles without @msgpack/msgpack', async () => {
    const { inputs } = await bundle('../src/index.ts');
    expect(inputs.some((i) => i.includes('@msgpack'))).toBe(false);
    expect(inputs.some((i) => i.endsWith('msgpack.ts'))).toBe(false);
  });

  it('the msgpack entry brings it in', async () => {
    const { inputs } = await bundle('../src/msgpack.ts');
    expect(inputs.some((i) => i.includes('@msgpack/msgpack'))).toBe(true);
  });

  it('package.json exports both', async () => {
    const pkg = (await import('../package.json', { with: { type: 'json' } })).default as { exports: Record<string, unknown>; dependencies: Record<string, string> };
    expect(Object.keys(pkg.exports)).toEqual(['.', './msgpack']);
    expect(Object.keys(pkg.dependencies)).toEqual(['@msgpack/msgpack']);
  });
});
