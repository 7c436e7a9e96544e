#!/usr/bin/env -S node --initial-old-space-size=64
// The `lifeline` command. Node runs it with a floor of 64 MiB under V8's old-generation limit
// (docs/server.md "Node's heap"): without it, a server with a small heap that receives large
// messages can fall into a full garbage collection every few dozen milliseconds. `npm start`
// at the repository's root passes the same flag; bench/targets/index.js reads it from here.
// This file is committed, not built: npm links a package's bins when it installs it, and on
// the first `npm install` of a fresh clone that happens before `prepare` has compiled dist/.
// A bin pointing into dist/ would not be linked at all ("could not determine executable to
// run"); this one always is, and runs the built code.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const built = new URL('../dist/bin.js', import.meta.url);
if (!existsSync(built)) {
  process.stderr.write(
    `lifeline: the command is not built: ${fileURLToPath(built)} is missing.\n` +
      'In a clone of the repository, run "npm run build" at its root (npm install does it too).\n',
  );
  process.exit(1);
}
await import(built.href);
