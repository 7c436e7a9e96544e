import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const CLIENT_DIR = fileURLToPath(new URL('../../packages/client/', import.meta.url));

/**
 * A classic-script bundle of `@lifeline/client` as an app's bundler would build it for
 * browsers (the package's "browser" conditions, minified), exposing `source`'s exports as
 * `window[globalName]`. Also returns the input files, so a test can check what went in.
 */
export async function buildBrowserScript(source: string, globalName = 'Lifeline'): Promise<{ code: string; inputs: string[] }> {
  const bundle = await build({
    stdin: { contents: source, resolveDir: CLIENT_DIR, sourcefile: 'entry.js' },
    bundle: true,
    minify: true,
    format: 'iife',
    globalName,
    platform: 'browser',
    target: 'es2022',
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  return { code: bundle.outputFiles[0]!.text, inputs: Object.keys(bundle.metafile.inputs) };
}
