// Registers kiln's backends with compile/ (compile/registry.ts): the module that compiles each
// one's kernels, which compile workers import by URL, its loader, imported on the first load of
// one of its kernels, and the ELF check of its binaries (binary_format.ts). Imported for this effect by api/program.ts (and by whatever uses
// compile/ without the api: tests, benches). Nothing here imports a backend: a CPU-only run never
// loads CUDA code, and the compilers (the CUDA one may dlopen NVRTC) load only where compiles run.
import { registerBackend } from '../compile/registry.js';
import { binaryFormatProblem } from './binary_format.js';

// Through ../backends/: the same path from this file and from the library bundle (dist/src/bundle/).
const compilerModule = (path: string) => new URL(`../backends/${path}`, import.meta.url).href;

registerBackend('c', {
  compilerModule: compilerModule('cpu/compiler.js'),
  loader: async () => (await import('./cpu/loader.js')).loadCKernel,
  binaryProblem: (binary) => binaryFormatProblem('c', binary),
});

registerBackend('cuda', {
  compilerModule: compilerModule('cuda/compiler.js'),
  loader: async () => (await import('./cuda/loader.js')).loadCudaKernel,
  binaryProblem: (binary) => binaryFormatProblem('cuda', binary),
});
