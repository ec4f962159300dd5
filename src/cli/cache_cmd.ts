// kiln cache stats | clear | export FILE | import FILE: the on-disk compile cache, through
// src/cache/artifacts.ts. Export/import move compiled kernels and graphs between machines
// (e.g. a build machine that ran `kiln compile` and the servers that run the model).

import type { Command } from 'commander';
import { cacheStats, clearCache, exportArtifacts, importArtifacts } from '../cache/artifacts.js';
import { configuredCacheDir } from '../cache/paths.js';
import { cachedLabels } from './cache_labels.js';
import { printJson, requireFile } from './common.js';
import { UsageError } from './errors.js';
import { checkOutputFile, ioErrorAt } from './output_path.js';

interface CacheOpts {
  cacheDir?: string;
  json?: boolean;
  label?: string;
}

function fmtBytes(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`;
}

function dirOf(o: CacheOpts): string {
  return configuredCacheDir(o.cacheDir ? { cacheDir: o.cacheDir } : {});
}

function withOptions(cmd: Command): Command {
  return cmd.option('--cache-dir <dir>', 'cache directory (default: KILN_CACHE_DIR or ~/.cache/kiln)').option('--json', 'print JSON');
}

export function registerCache(program: Command): void {
  const cache = program.command('cache').description('inspect, clear, export or import the compile cache');

  withOptions(cache.command('stats').description('count the cached kernels and graphs')).action((o: CacheOpts) => {
    const s = cacheStats(dirOf(o));
    if (o.json) return printJson(s);
    console.log(`${s.dir}: ${s.kernels} kernels, ${s.graphs} graphs, ${fmtBytes(s.bytes)}`);
  });

  withOptions(cache.command('clear').description('remove every cached kernel and graph')).action((o: CacheOpts) => {
    const s = clearCache(dirOf(o));
    if (o.json) return printJson({ ...s, cleared: true });
    console.log(`${s.dir}: removed ${s.kernels} kernels, ${s.graphs} graphs (${fmtBytes(s.bytes)})`);
  });

  withOptions(
    cache
      .command('export')
      .description('write cached kernels and graphs into one file (all, or one model\'s with --label)')
      .argument('<file>', 'artifact file to write')
      .option('--label <label>', 'only the graphs compiled under this label (the model file name) and their kernels'),
  ).action((file: string, o: CacheOpts) => {
    // Checked before anything is written: a bad path or a label with no graphs writes no file.
    checkOutputFile(file, 'artifact file');
    if (o.label !== undefined) {
      const labels = cachedLabels(dirOf(o));
      if (!labels.has(o.label)) {
        const known = [...labels.keys()].sort();
        throw new UsageError(`no cached graph has the label '${o.label}' in ${dirOf(o)}; nothing written (${known.length ? `labels there: ${known.join(', ')}` : 'no labelled graphs there'})`);
      }
    }
    let r;
    try {
      r = exportArtifacts(dirOf(o), file, o.label ? { label: o.label } : {});
    } catch (e) {
      ioErrorAt(e, file, 'artifact file');
    }
    if (o.json) return printJson({ file, ...r });
    console.log(`${file}: ${r.kernels} kernels, ${r.graphs} graphs (${fmtBytes(r.bytes)})`);
  });

  withOptions(cache.command('import').description('add the kernels and graphs of an exported file to the cache').argument('<file>', 'artifact file to read')).action(
    (file: string, o: CacheOpts) => {
      const r = importArtifacts(dirOf(o), requireFile(file, 'artifact file'));
      if (o.json) return printJson({ file, ...r });
      console.log(`${dirOf(o)}: imported ${r.kernels} kernels, ${r.graphs} graphs${r.skipped ? `; skipped ${r.skipped} invalid entries` : ''}`);
    },
  );
}
