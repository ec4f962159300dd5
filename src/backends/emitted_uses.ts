// What a kernel's generated code uses from outside itself, recorded by the code generator as
// it emits it: the prelude helper families (half conversions, integer division and powers)
// and the fixed-width C types it names (NVRTC has no <stdint.h>: the CUDA source typedefs
// the ones it names). Each helper and typedef is emitted only when used, so a kernel keeps
// the source, and so the cache key, it had before the helper existed, and pays nothing for it
// at compile time.
//
// The emitters are small string functions called from every code generator (c_expr.ts,
// half_c.ts, int_c.ts, the backends' kernel writers), so the record is ambient: generating a
// kernel runs inside recordUses(), and each emitter that writes a helper call or a type name
// notes it. Code generation is synchronous, so one record is open at a time; a record opened
// inside another adds what it saw to the outer one too (the outer code holds the inner's).

export type HelperFamily = 'half' | 'int';

export interface EmittedUses {
  readonly helpers: ReadonlySet<HelperFamily>;
  /** Fixed-width C type names (int8_t, uint32_t, ...) the code names. */
  readonly types: ReadonlySet<string>;
}

let open: { helpers: Set<HelperFamily>; types: Set<string> } | undefined;

/** Notes that the code being generated calls a helper of `family`. */
export function useHelper(family: HelperFamily): void {
  open?.helpers.add(family);
}

/** Notes that the code being generated names C type `name`; returns it, for use inside templates. */
export function useType(name: string): string {
  open?.types.add(name);
  return name;
}

/** Runs `emit` (a code generator), recording what the code it writes uses. */
export function recordUses<T>(emit: () => T): { value: T; uses: EmittedUses } {
  const outer = open;
  const uses = { helpers: new Set<HelperFamily>(), types: new Set<string>() };
  open = uses;
  try {
    return { value: emit(), uses };
  } finally {
    open = outer;
    for (const h of uses.helpers) outer?.helpers.add(h);
    for (const t of uses.types) outer?.types.add(t);
  }
}
