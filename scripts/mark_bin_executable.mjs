// Makes the `kiln` command's file executable after a build. tsc writes files without the
// executable bit, and npm marks a package's bin files only when installing it as a
// dependency, not for the project itself: without this, `npx kiln` in a fresh clone fails
// with "Permission denied". Run by `npm run build` after tsc.
import { chmodSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
for (const file of Object.values(pkg.bin ?? {})) chmodSync(join(root, file), 0o755);
