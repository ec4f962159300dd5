// The last check before a binary is handed to dlopen or cuModuleLoadData: is it an ELF file
// of the kind its backend loads (a shared object for this host's machine, or a cubin), with
// headers that lie inside the file? A file that fails is never loaded: the loaders throw,
// the stores count it as corrupt and recompile, an import skips it.
//
// What this does NOT check, and what therefore stays trusted: the machine code itself. A
// well-formed ELF whose code was altered still runs. kiln relies on where binaries come
// from for that: its own compile workers (sources it generated, in private mkdtemp
// directories), a cache directory only this user can write (cache/trust.ts), and artifacts
// signed by a trusted key (cache/signing.ts).

/** EM_* values: the machine a C kernel must be built for, by Node's process.arch. */
const HOST_MACHINES: Record<string, number> = { x64: 62, arm64: 183, ia32: 3, arm: 40, ppc64: 21, s390x: 22, riscv64: 243, loong64: 258 };
const EM_CUDA = 190;
const ET_DYN = 3;
const ET_EXEC = 2;

/** Why `binary` cannot be a kernel of `backend` for this host, or undefined if its format is right. */
export function binaryFormatProblem(backend: string, binary: Uint8Array): string | undefined {
  if (binary.byteLength < 64) return `${binary.byteLength} bytes is too short for an ELF file`;
  if (binary[0] !== 0x7f || binary[1] !== 0x45 || binary[2] !== 0x4c || binary[3] !== 0x46) return 'no ELF header';
  if (binary[4] !== 2) return 'not a 64-bit ELF file';
  if (binary[5] !== 1) return 'not a little-endian ELF file';
  if (binary[6] !== 1) return 'unknown ELF version';
  const view = new DataView(binary.buffer, binary.byteOffset, binary.byteLength);
  const type = view.getUint16(16, true);
  const machine = view.getUint16(18, true);
  const phoff = view.getBigUint64(32, true);
  const shoff = view.getBigUint64(40, true);
  const ehsize = view.getUint16(52, true);
  const phentsize = view.getUint16(54, true);
  const phnum = view.getUint16(56, true);
  const shentsize = view.getUint16(58, true);
  const shnum = view.getUint16(60, true);
  const size = BigInt(binary.byteLength);
  if (ehsize < 64) return 'bad ELF header size';
  if (phnum > 0 && (phentsize < 56 || phoff + BigInt(phentsize * phnum) > size)) return 'ELF program headers lie outside the file';
  if (shnum > 0 && (shentsize < 64 || shoff + BigInt(shentsize * shnum) > size)) return 'ELF section headers lie outside the file';
  if (backend === 'c') {
    const want = HOST_MACHINES[process.arch];
    if (type !== ET_DYN) return `ELF type ${type} is not a shared object`;
    if (want !== undefined && machine !== want) return `built for ELF machine ${machine}, this host (${process.arch}) is ${want}`;
    if (phnum === 0) return 'a shared object without program headers';
    return undefined;
  }
  if (backend === 'cuda') {
    if (machine !== EM_CUDA) return `ELF machine ${machine} is not a CUDA cubin (${EM_CUDA})`;
    if (type !== ET_EXEC && type !== ET_DYN && type !== 1) return `ELF type ${type} is not a cubin`;
    return undefined;
  }
  return `unknown backend ${backend}`;
}
