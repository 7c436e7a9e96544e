// The `lifeline` package's prepack and postpack step. Installed from npm, `lifeline serve`
// serves the demo and the console from pages/<name> beside dist/ (static-app.ts); this
// copies the built apps (apps/<name>/dist) there before `npm pack` or `npm publish` takes
// the files, and `--remove` deletes pages/ afterwards, so the repository keeps one copy.
import { cpSync, existsSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BUILT_APPS } from '../dist/static-app.js';

const pages = new URL('../pages/', import.meta.url);
rmSync(pages, { recursive: true, force: true });
if (process.argv[2] !== '--remove') {
  for (const name of BUILT_APPS) {
    const built = new URL(`../../../apps/${name}/dist/`, import.meta.url);
    if (!existsSync(new URL('index.html', built))) {
      process.stderr.write(`lifeline: cannot pack: ${fileURLToPath(built)} has no index.html. Run "npm run build" at the repository root.\n`);
      process.exit(1);
    }
    cpSync(built, new URL(`${name}/`, pages), { recursive: true });
  }
}
