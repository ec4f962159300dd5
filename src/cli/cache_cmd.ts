// kiln cache stats | clear | export FILE | import FILE | key | trust KEYFILE: the on-disk
// compile cache, through src/cache/artifacts.ts. Export/import move compiled kernels and
// graphs between machines (e.g. a build machine that ran `kiln compile` and the servers that
// run the model); export signs with this machine's key, import takes only files signed by a
// trusted key (src/cache/signing.ts): `kiln cache key` on the signer prints its public key,
// `kiln cache trust KEYFILE` on the importer trusts it.

import type { Command } from 'commander';
import { cacheStats, clearCache, exportArtifacts, importArtifacts } from '../cache/artifacts.js';
import { configuredCacheDir } from '../cache/paths.js';
import { fingerprint, machineSigningKey, publicKeyLine, trustKeyFile } from '../cache/signing.js';
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
    // The signing key first (made on first use), so its own errors are not reported as the artifact file's.
    machineSigningKey({ create: true });
    let r;
    try {
      r = exportArtifacts(dirOf(o), file, o.label ? { label: o.label } : {});
    } catch (e) {
      ioErrorAt(e, file, 'artifact file');
    }
    if (o.json) return printJson({ file, ...r });
    console.log(`${file}: ${r.kernels} kernels, ${r.graphs} graphs (${fmtBytes(r.bytes)}), signed by ${r.signer}`);
  });

  withOptions(cache.command('import').description('add the kernels and graphs of an exported file to the cache').argument('<file>', 'artifact file to read')).action(
    (file: string, o: CacheOpts) => {
      const r = importArtifacts(dirOf(o), requireFile(file, 'artifact file'));
      if (o.json) return printJson({ file, ...r });
      console.log(`${dirOf(o)}: imported ${r.kernels} kernels, ${r.graphs} graphs signed by ${r.signer}${r.skipped ? `; skipped ${r.skipped} invalid entries` : ''}`);
    },
  );

  cache
    .command('key')
    .description("print this machine's public signing key (what `kiln cache trust` takes on another machine); made on first use")
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) => {
      const k = machineSigningKey({ create: true })!;
      const fp = fingerprint(k.publicRaw);
      const line = publicKeyLine(k.publicRaw, `kiln@${fp}`);
      if (o.json) return printJson({ fingerprint: fp, publicKey: line, keyFile: k.path, publicKeyFile: k.publicPath ?? null });
      console.log(line);
      console.error(`${fp}, private key ${k.path}${k.publicPath !== undefined ? `, public key file ${k.publicPath}` : ''}`);
    });

  cache
    .command('trust')
    .description('trust artifacts signed by the public key in KEYFILE (`kiln cache key` prints one)')
    .argument('<keyfile>', 'public key file: PEM, or an "ed25519 <base64>" line')
    .option('--json', 'print JSON')
    .action((keyFile: string, o: { json?: boolean }) => {
      const r = trustKeyFile(requireFile(keyFile, 'key file'));
      if (o.json) return printJson(r);
      console.log(`${r.added ? 'now trusting' : 'already trusted:'} ${r.fingerprint} (${r.list})`);
    });
}
