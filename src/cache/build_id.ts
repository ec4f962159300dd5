// The build's identity (scripts/build_id.mjs hashes kiln's sources into dist/src/build_id.json
// at build time): part of the graph cache key, so a plan made by one version of the scheduler
// and code generators is never loaded by another. Read once, on first use.
import { readFileSync } from 'node:fs';

let cached: string | undefined;

export function kilnBuildId(): string {
  if (cached !== undefined) return cached;
  try {
    // '../' from dist/src/cache/ and from the library bundle in dist/src/bundle/ alike.
    const raw = JSON.parse(readFileSync(new URL('../build_id.json', import.meta.url), 'utf8')) as { buildId?: unknown };
    cached = typeof raw.buildId === 'string' && raw.buildId !== '' ? raw.buildId : 'unknown-build';
  } catch {
    // Built without the build step (tsc alone): still works, keyed as an unknown build.
    cached = 'unknown-build';
  }
  return cached;
}
