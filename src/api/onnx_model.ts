// The loaded model: checks feeds, builds the graph for them (once per "shape variant": a
// distinct binding of the symbolic dims and value of any inputs that shapes depend on, at most
// KILN_MAX_SHAPE_VARIANTS held: shape_variants.ts), compiles lazily through compileGraph and
// runs. A dynamic model's first run tries one symbolic program instead (symbolic_variant.ts),
// which serves every later binding its guards admit; where it is refused, per-shape variants.
// STRING inputs and outputs are converted here, on the host, before and after the compiled
// program.

import type { CompileOptions, Program } from './program.js';
import { compileGraphSource } from './program.js';
import { type GraphSource, graphDigest, tracedSource } from './graph_source.js';
import { type CheckedGraph, withIndexChecks } from './index_checks.js';
import { openCache } from '../cache/open_cache.js';
import { setting } from '../config/read.js';
import type { DType } from '../graph/dtype.js';
import { bump } from '../observe/counters.js';
import { withSpan } from '../observe/trace.js';
import { NDArray } from '../graph/ndarray.js';
import type { ParsedModel } from '../onnx/check.js';
import type { Built, ModelInput } from '../onnx/model_api.js';
import type { OnnxModel, OnnxModelInfo } from './onnx_model_api.js';
import { ConstTensor } from '../onnx/const_tensor.js';
import { GuardFailure, SymInt } from '../graph/sym.js';
import type { InputSpec } from '../frontend/trace.js';
import { NeedsInputValues } from '../onnx/context.js';
import { type ConversionRecord, ConversionStore, type ModelIndex, type ParamSource, SYMBOLIC_PROGRAM, type StoredSpec, conversionKey, modelIndexKey } from './conversion_record.js';
import { type Conversion, type InitializerCache, buildGraph, graphInputs, initializerTensor } from '../onnx/convert.js';
import { OnnxInputError, OnnxModelError } from '../onnx/errors.js';
import { type Binding, bindFeeds, bindingEntries, concreteInputs, fmtBinding, hasSymbolicDims, symbolOf } from '../onnx/binding.js';
import { ShapeVariants } from './shape_variants.js';
import { SymbolicAttempts, type SymbolicGraph, type SymbolicVariant, guardRefusal, symbolicGraph } from './symbolic_variant.js';
import { compileSymbolic } from './symbolic_compile.js';
import type { OpTable } from '../onnx/ops/index.js';
import { type OnnxValue, StringTensor } from '../onnx/string_tensor.js';
import { formatStrings, parseStrings } from '../onnx/strings.js';

/** Feeds by graph-input name, all numeric: string feeds already parsed into their Casts' outputs. */
type NumericFeeds = Record<string, NDArray>;

/**
 * The graph for one value of the value inputs and one binding of the symbolic dims: built (a
 * cold start, or on demand), or known only by its stored conversion (a warm start: no
 * conversion, no folding). A per-shape variant accepts exactly its own binding; the symbolic
 * one (buildSymbolic) every binding its program's guards admit.
 */
interface Variant extends SymbolicVariant {
  /** True for the one program over symbolic sizes (symbolic_variant.ts); its graph is built at its first binding's sizes. */
  symbolic?: boolean;
  fixed: Map<string, ConstTensor>;
  binding: Binding;
  built?: Conversion;
  /** How a stored symbolic variant's graph is built again: at the specs its record names, with their symbols. */
  rebuild?: () => Conversion;
  /** The built graph with its index checks (a stored variant's, once built: checked against the record). */
  checked?: CheckedGraph;
  record?: { key: string; conversion: ConversionRecord };
  source?: GraphSource;
  program?: Promise<Program>;
  /** The program once compiled: dispose() frees it at once rather than after a microtask. */
  compiled?: Program;
}

/** Where the model's conversions are stored (the graph store of its cache directory). */
interface ConversionCache {
  store: ConversionStore;
  indexKey: string;
  index: ModelIndex | undefined;
}

/** loadOnnx's result; users see its interface, OnnxModel (onnx_model_api.ts). */
export class LoadedOnnxModel implements OnnxModel {
  readonly inputNames: string[];
  readonly outputNames: string[];
  readonly stringOutputs: string[];
  readonly inputs: ModelInput[];
  /** Graph inputs whose values shape the graph (found on load or on first run). */
  readonly valueInputs: string[] = [];
  private readonly variants: ShapeVariants<Variant>;
  /** Whether inputs have symbolic dims: the graph is then built per binding, from the first run's feeds. */
  private readonly dynamic: boolean;
  private readonly inits: InitializerCache = new Map();
  private readonly cache: ConversionCache | undefined;
  /** A dynamic model's attempts at one symbolic program, per value key (undefined: per-shape only). */
  private readonly symbolic: SymbolicAttempts<Variant> | undefined;
  private disposed = false;

  /**
   * `structureHash` (structure_hash.ts) keys the stored conversions; without it the graph is
   * always built.
   */
  constructor(
    private readonly m: ParsedModel,
    private readonly table: OpTable,
    private readonly options: CompileOptions,
    structureHash?: string,
    maxShapeVariants: number = setting('KILN_MAX_SHAPE_VARIANTS'),
    /** false: per-shape variants only, never a symbolic program (loadOnnx's `dynamic`). */
    symbolicSizes = true,
  ) {
    this.variants = new ShapeVariants(maxShapeVariants);
    this.inputs = m.inputs.map((i) => ({ ...i, dims: [...i.dims], shape: [...i.shape] }));
    this.dynamic = hasSymbolicDims(m.inputs);
    this.symbolic = this.dynamic ? new SymbolicAttempts<Variant>(m.file, symbolicSizes ? undefined : 'loadOnnx option dynamic: false') : undefined;
    this.inputNames = m.inputs.map((i) => i.name);
    this.outputNames = m.outputs.map((o) => o.name);
    this.stringOutputs = this.outputNames.filter((n) => m.strings.formats.has(n));
    if (structureHash !== undefined) {
      const store = new ConversionStore(openCache({ cacheDir: options.cacheDir }).graphs, m.file);
      const indexKey = modelIndexKey(structureHash, this.inputs);
      const index = withSpan('cache', 'onnx model index', () => store.index(indexKey));
      this.cache = { store, indexKey, index: index && this.usableIndex(index) ? index : undefined };
      if (index && !this.cache.index) store.drop(indexKey);
      this.valueInputs.push(...(this.cache.index?.valueInputs ?? []));
    }
    // Build now (unless the conversion is stored) so that unsupported or broken models fail at
    // load, before any compile. A stored conversion was built from a model of this structure
    // and these guarded values, so it converts: loadOnnx's checks against the op table ran.
    // A dynamic model has no sizes yet: its ops, dtypes and ranks were checked (check.ts), and
    // its graph is built at the first run, for that run's sizes.
    this.variant(undefined, undefined);
  }

  get file(): string {
    return this.m.file;
  }

  /**
   * The graph for these feeds: one per distinct value of the value inputs and binding of the
   * symbolic dims, from the variants held, the stored conversion or built. Without feeds (or,
   * for a dynamic model, a binding), returns undefined when the graph needs them.
   */
  private variant(feeds: NumericFeeds | undefined, binding: Binding | undefined, exactOnly = false): Variant | undefined {
    if (this.dynamic && !binding) return undefined;
    const sizes = binding ?? new Map<string, number>();
    for (;;) {
      const values = this.valuesOf(feeds);
      if (!values) return undefined;
      const { fixed, valueKey } = values;
      const known = this.variants.find(valueKey, sizes, exactOnly);
      if (known) return known;
      const stored = this.adoptStored(valueKey, fixed, sizes);
      if (stored) return stored;
      try {
        const v = perShapeVariant(valueKey, fixed, sizes, { built: this.build(fixed, sizes) });
        this.store(v);
        this.variants.add(valueKey, sizes, v);
        return v;
      } catch (e) {
        if (!(e instanceof NeedsInputValues)) throw e;
        const added = e.inputs.filter((n) => !this.valueInputs.includes(n));
        if (added.length === 0) throw new OnnxModelError(this.m.file, e.message);
        this.valueInputs.push(...added);
      }
    }
  }

  /** The value inputs' values in these feeds and their key; undefined when the model has value inputs and no feeds came. */
  private valuesOf(feeds: NumericFeeds | undefined): { fixed: Map<string, ConstTensor>; valueKey: string } | undefined {
    const fixed = new Map<string, ConstTensor>();
    for (const name of this.valueInputs) {
      if (!feeds) return undefined;
      fixed.set(name, ConstTensor.fromNDArray(feeds[name]!));
    }
    return { fixed, valueKey: JSON.stringify([...fixed].map(([k, v]) => [k, v.values()])) };
  }

  /** The variant of a stored conversion for these values and sizes, added to the variants; undefined on a miss. */
  private adoptStored(valueKey: string, fixed: Map<string, ConstTensor>, binding: Binding): Variant | undefined {
    const stored = this.storedVariant(valueKey, fixed, binding);
    if (!stored) return undefined;
    // The weights are read now, as a build reads them: I/O errors (a missing or short data
    // file) surface at load, and the first run only binds them.
    withSpan('load', 'onnx weights', () => this.sourceOf(stored));
    this.variants.add(valueKey, binding, stored);
    return stored;
  }

  /**
   * The variant a run of a dynamic model takes: one held that accepts the binding, a stored
   * conversion of exactly these sizes (a warm start builds nothing), the value key's symbolic
   * program (tried once, at its first miss: symbolic_variant.ts), else a per-shape variant.
   */
  private async runVariant(feeds: NumericFeeds, binding: Binding): Promise<Variant> {
    const attempts = this.symbolic;
    if (!attempts?.enabled || setting('KILN_ONNX_ORACLE') === 'interpret') return this.variant(feeds, binding)!;
    const { fixed, valueKey } = this.valuesOf(feeds)!;
    const known = this.variants.find(valueKey, binding) ?? this.adoptStored(valueKey, fixed, binding);
    if (known) return known;
    const v = await attempts.variantFor(valueKey, binding, () => this.buildSymbolic(valueKey, fixed, feeds, binding));
    return v ?? this.variant(feeds, binding)!;
  }

  /**
   * One program over the model's symbolic dims for this value key (compileSymbolic: built at
   * these feeds' sizes, then at other sizes to prove the program does not depend on them),
   * added to the variants; throws its refusal.
   */
  private async buildSymbolic(valueKey: string, fixed: Map<string, ConstTensor>, feeds: NumericFeeds, binding: Binding): Promise<Variant> {
    const graph = symbolicGraph(this.m, fixed, feeds, (m, sym) => buildGraph(m, this.table, fixed, this.inits, sym));
    const options = { label: this.file, ...this.options };
    // A warm start: the program's conversion is stored (it passed the check below once), so
    // neither build runs; its graph is built at the stored specs only on a graph-cache miss.
    const record = this.storedRecord(fixed, SYMBOLIC_PROGRAM);
    if (record) {
      const specs = record.conversion.specs!.map(inputSpec);
      // Held under its hints' binding, which it serves (this run's may be one its guards refuse).
      const v = perShapeVariant(valueKey, fixed, graph.bindingOf(specs), { record });
      v.rebuild = () => {
        graph.build(specs);
        return graph.builtAt(specs.map((s) => s.shape))!;
      };
      withSpan('load', 'onnx weights', () => this.sourceOf(v));
      return this.adoptSymbolic(v, await compileGraphSource(this.sourceOf(v), options), graph);
    }
    const { program, specs } = await compileSymbolic(graph.build, graph.inputs, graph.symbolic, options, graph.group);
    // Built at the hints (a dim_param fed 1 has a hint of 7 or more: symbolic_compile.ts).
    const built = graph.builtAt(specs.map((s) => s.shape))!;
    const v = perShapeVariant(valueKey, fixed, binding, { built });
    if (!this.disposed) this.store(v, specs);
    return this.adoptSymbolic(v, program, graph);
  }

  /** Makes `v` the value key's symbolic variant, serving every binding `program`'s guards admit. */
  private adoptSymbolic(v: Variant, program: Program, graph: SymbolicGraph): Variant {
    if (this.disposed) {
      program.dispose();
      throw new OnnxModelError(this.m.file, 'this model was disposed: load it again (loadOnnx) to run or compile it');
    }
    const dispose = v.dispose;
    Object.assign(v, {
      symbolic: true,
      source: this.sourceOf(v),
      compiled: program,
      program: Promise.resolve(program),
      accepts: (b: Binding) => !v.retired && program.accepts(graph.runtimeShapes(b)),
      refusal: (b: Binding) => guardRefusal(program, graph.runtimeShapes(b)),
      dispose: () => {
        v.retired = true;
        dispose();
      },
    });
    this.variants.add(v.valueKey, v.binding, v);
    return v;
  }

  /** Converts the model for these values and sizes; a failure for a binding says which sizes it was. */
  private build(fixed: ReadonlyMap<string, ConstTensor>, binding: Binding): Conversion {
    if (binding.size === 0) return buildGraph(this.m, this.table, fixed, this.inits);
    try {
      return buildGraph({ ...this.m, inputs: concreteInputs(this.m.inputs, binding) }, this.table, fixed, this.inits);
    } catch (e) {
      if (!(e instanceof OnnxModelError)) throw e;
      const detail = e.message.startsWith(`${this.file}: `) ? e.message.slice(this.file.length + 2) : e.message;
      throw new OnnxModelError(this.file, `the graph cannot be built for ${fmtBinding(binding)} (the sizes of its symbolic dims in these feeds): ${detail}`);
    }
  }

  /** Names a numeric feed may have: the graph inputs, and the values STRING inputs' Casts produce. */
  private numericInputNames(): Set<string> {
    const names = new Set(this.inputs.filter((i) => i.dtype !== 'string').map((i) => i.name));
    for (const casts of this.m.strings.casts.values()) for (const c of casts) names.add(c.value);
    return names;
  }

  /** Whether a stored model index fits this model (its names exist); anything else is corrupt. */
  private usableIndex(index: ModelIndex): boolean {
    const inputs = this.numericInputNames();
    return index.valueInputs.every((n) => inputs.has(n)) && index.guards.every((n) => this.m.initializers.has(n));
  }

  /** The variant from its stored conversion, or undefined (no cache, a miss, or an entry that does not fit). */
  private storedVariant(valueKey: string, fixed: Map<string, ConstTensor>, binding: Binding): Variant | undefined {
    const record = this.storedRecord(fixed, binding);
    return record && perShapeVariant(valueKey, fixed, binding, { record });
  }

  /**
   * The stored conversion for these values and binding (or the symbolic program's), checked to
   * fit this model (its names exist; a symbolic program's names its specs, a per-shape one none);
   * one that does not is dropped as corrupt. Undefined on a miss.
   */
  private storedRecord(fixed: ReadonlyMap<string, ConstTensor>, binding: Binding | typeof SYMBOLIC_PROGRAM): Variant['record'] {
    const c = this.cache;
    if (!c?.index) return undefined;
    const index = c.index;
    return withSpan('cache', 'onnx conversion lookup', () => {
      const key = this.conversionKeyOf(c.indexKey, index.guards, fixed, binding);
      const conversion = c.store.conversion(key);
      if (!conversion) return undefined;
      const inputs = this.numericInputNames();
      const fits =
        conversion.runtimeInputs.every((n) => inputs.has(n)) &&
        conversion.params.every((p) => !('init' in p) || this.m.initializers.has(p.init)) &&
        // A symbolic program's specs: one per graph input that is not a fixed value (symbolicGraph's inputs).
        (binding === SYMBOLIC_PROGRAM ? conversion.specs?.length === graphInputs(this.m).filter((g) => !fixed.has(g.name)).length : conversion.specs === undefined);
      if (!fits) {
        c.store.drop(key);
        return undefined;
      }
      bump('onnx_conversion_hits');
      return { key, conversion };
    });
  }

  /**
   * Stores a built variant's conversion (and the model index, when it learnt something): a
   * per-shape variant's under its binding, the symbolic program's (`specs`: what it was built
   * at) under SYMBOLIC_PROGRAM.
   */
  private store(v: Variant, specs?: readonly InputSpec[]): void {
    const c = this.cache;
    const built = v.built!;
    v.source ??= tracedSource(built.traced);
    // A build that read data the model's bytes do not hold (a Constant's external data) cannot be keyed by them.
    if (!c || built.reads.unkeyable) return;
    const source = v.source;
    withSpan('cache', 'onnx conversion store', () => {
      const guards = [...new Set([...(c.index?.guards ?? []), ...built.reads.initializers])].sort();
      const index: ModelIndex = { valueInputs: [...this.valueInputs], guards };
      if (!c.index || JSON.stringify(c.index) !== JSON.stringify(index)) {
        c.store.putIndex(c.indexKey, index);
        c.index = index;
      }
      const key = this.conversionKeyOf(c.indexKey, guards, v.fixed, specs ? SYMBOLIC_PROGRAM : v.binding);
      c.store.putConversion(key, {
        digest: source.digest,
        runtimeInputs: built.runtimeInputs,
        ops: built.ops,
        userOutputs: source.checks.userOutputs,
        checks: [...source.checks.checks],
        shapes: source.checks.shapes.map((s) => [...s]),
        params: this.paramSources(source.params),
        ...(specs ? { specs: specs.map(storedSpec) } : {}),
      });
    });
  }

  /** A conversion's key: the model index's key, the guards' contents, the value inputs' values and the binding. */
  private conversionKeyOf(indexKey: string, guards: readonly string[], fixed: ReadonlyMap<string, ConstTensor>, binding: Binding | typeof SYMBOLIC_PROGRAM): string {
    return conversionKey(indexKey, guards.map((n) => [n, initializerTensor(this.m, n, this.inits)] as const), fixed, binding);
  }

  /** Where each graph parameter comes from: an initializer's own NDArray, else data folding derived. */
  private paramSources(params: readonly NDArray[]): ParamSource[] {
    const byArray = new Map<NDArray, string>();
    for (const [name, c] of this.inits) byArray.set(c.toNDArray(), name);
    return params.map((a) => {
      const init = byArray.get(a);
      return init !== undefined ? { init } : { data: a.toTypedArraySync(), dtype: a.dtype, shape: [...a.shape] };
    });
  }

  /** The built graph of a variant, building it now for one that came from the cache. */
  private builtOf(v: Variant): Built {
    if (!v.built) {
      const built = v.rebuild ? v.rebuild() : this.build(v.fixed, v.binding);
      const rec = v.record!;
      const checked = withIndexChecks(built.traced);
      // The stored conversion named this graph: a different one means the entry was wrong.
      if (graphDigest(checked.traced.graph) !== rec.conversion.digest) {
        this.cache?.store.drop(rec.key);
        throw new OnnxModelError(this.m.file, 'the cached conversion of this model does not match it (removed from the cache: run again)');
      }
      v.built = built;
      v.checked = checked;
    }
    return v.built;
  }

  /** The graph's source for compileGraphSource: a built graph, or a stored conversion (built only on a graph-cache miss). */
  private sourceOf(v: Variant): GraphSource {
    if (v.source) return v.source;
    const conv = v.record!.conversion;
    const params = conv.params.map((p) => ('init' in p ? initializerTensor(this.m, p.init, this.inits).toNDArray() : NDArray.from(p.data, p.shape, { dtype: p.dtype })));
    const model = this;
    v.source = {
      digest: conv.digest,
      returnsArray: true,
      params,
      // Initializers and the constants folded from them (as Traced.immutableParams of a built graph).
      immutableParams: true,
      checks: { userOutputs: conv.userOutputs, checks: conv.checks, shapes: conv.shapes },
      get built() {
        return v.built !== undefined;
      },
      checked: () => {
        model.builtOf(v);
        return v.checked!;
      },
    };
    return v.source;
  }

  private runtimeInputs(v: Variant): string[] {
    return v.built?.runtimeInputs ?? v.record!.conversion.runtimeInputs;
  }

  /**
   * Validates feeds against the model's inputs (names, then dtypes, ranks and sizes, binding the
   * symbolic dims: binding.ts) and parses string feeds.
   */
  private checkFeeds(feeds: Record<string, OnnxValue>): { numeric: NumericFeeds; binding: Binding } {
    if (feeds === null || typeof feeds !== 'object') throw new OnnxInputError(`${this.file}: run() expects an object of input name → NDArray (StringTensor for a STRING input)`);
    const missing = this.inputNames.filter((n) => !(n in feeds));
    const extra = Object.keys(feeds).filter((n) => !this.inputNames.includes(n));
    if (missing.length || extra.length) {
      const parts = [
        missing.length ? `missing input${missing.length > 1 ? 's' : ''} ${missing.map((n) => `'${n}'`).join(', ')}` : '',
        extra.length ? `unknown input${extra.length > 1 ? 's' : ''} ${extra.map((n) => `'${n}'`).join(', ')}` : '',
      ].filter(Boolean);
      throw new OnnxInputError(`${this.file}: ${parts.join('; ')} (the model's inputs: ${this.describeInputs()})`);
    }
    const fed = this.inputs.map((inp) => {
      const a = feeds[inp.name];
      const kind = inp.dtype === 'string' ? StringTensor : NDArray;
      if (!(a instanceof kind)) throw new OnnxInputError(`${this.file}: input '${inp.name}' must be ${inp.dtype === 'string' ? 'a StringTensor' : 'an NDArray'}`);
      return { input: inp, shape: a.shape, dtype: a.dtype };
    });
    const binding = bindFeeds(this.file, fed, this.pinnedHint());
    const numeric: NumericFeeds = {};
    for (const inp of this.inputs) {
      const a = feeds[inp.name];
      if (a instanceof NDArray) numeric[inp.name] = a;
      else for (const c of this.m.strings.casts.get(inp.name) ?? []) numeric[c.value] = parseStrings(a as StringTensor, c.dtype, `${this.file}: input '${inp.name}'`);
    }
    return { numeric, binding };
  }

  /** For a size mismatch on a model loaded with inputShapes: it would otherwise take other sizes. */
  private pinnedHint(): string {
    const pinned = [...this.m.pinned];
    if (pinned.length === 0) return '';
    return `; options.inputShapes pinned the shape of ${pinned.map((n) => `'${n}'`).join(', ')} at load: load the model without inputShapes to run any size of its symbolic dims`;
  }

  describeInputs(): string {
    return this.inputs.map((i) => `${i.name}: ${i.dtype}[${i.dims.join(',')}]`).join(', ');
  }

  private programFor(v: Variant): Promise<Program> {
    if (!v.program) {
      v.program = compileGraphSource(this.sourceOf(v), { label: this.file, ...this.options });
      v.program.then((p) => (v.compiled = p), () => (v.program = undefined));
    }
    return v.program;
  }

  /**
   * Compiles now (run() otherwise compiles on first call) and returns the Program. Models
   * whose graph depends on input values need those feeds.
   */
  async compile(feeds?: Record<string, OnnxValue>, options: CompileOptions = {}): Promise<Program> {
    this.checkLive();
    const v = this.variantFor(feeds);
    if (!v) throw new OnnxInputError(`${this.file}: ${this.needsFeeds()}: pass feeds to compile()`);
    if (Object.keys(options).length) return compileGraphSource(this.sourceOf(v), { label: this.file, ...this.options, ...options });
    return this.programFor(v);
  }

  /** Runs the model: its outputs, all NDArrays (a model with STRING outputs takes runValues()). */
  async run(feeds: Record<string, OnnxValue>): Promise<Record<string, NDArray>> {
    this.checkLive();
    if (this.stringOutputs.length > 0) {
      throw new OnnxModelError(this.file, `output${this.stringOutputs.length > 1 ? 's' : ''} ${this.stringOutputs.map((n) => `'${n}'`).join(', ')} ${this.stringOutputs.length > 1 ? 'are' : 'is'} STRING: run it with runValues(), which returns StringTensors for them`);
    }
    return (await this.runValues(feeds)) as Record<string, NDArray>;
  }

  /**
   * Runs the model. Inputs and outputs are NDArrays, except STRING ones (StringTensor), which
   * only a model whose strings sit at its boundary has (see string_boundary.ts).
   */
  async runValues(feeds: Record<string, OnnxValue>): Promise<Record<string, OnnxValue>> {
    this.checkLive();
    const { numeric, binding } = this.checkFeeds(feeds);
    const v = await this.runVariant(numeric, binding);
    this.checkLive();
    let outs: NDArray[];
    try {
      outs = await this.runOn(v, numeric);
    } catch (e) {
      // accepts() asked the program's guards already: this is a backstop, never a wrong answer.
      if (!(v.symbolic && e instanceof GuardFailure)) throw e;
      bump('guard_failures');
      outs = await this.runOn(this.variant(numeric, binding, true)!, numeric);
    }
    const named: [string, OnnxValue][] = [];
    for (const [i, n] of this.outputNames.entries()) named.push([n, this.m.strings.formats.has(n) ? await formatStrings(outs[i]!) : outs[i]!]);
    return Object.fromEntries(named);
  }

  /** Runs one variant's program on these feeds (the interpreter under KILN_ONNX_ORACLE=interpret). */
  private async runOn(v: Variant, numeric: NumericFeeds): Promise<NDArray[]> {
    const inputs = this.runtimeInputs(v).map((n) => numeric[n]!);
    // Held while it runs: another run's new variant may evict it meanwhile, disposing it after.
    this.variants.acquire(v);
    try {
      return setting('KILN_ONNX_ORACLE') === 'interpret' ? await interpretBuilt(this.builtOf(v), inputs) : await (await this.programFor(v)).run(inputs);
    } finally {
      this.variants.release(v);
    }
  }

  /** The traced graph for these feeds (for tests and the interpreter oracle). */
  graphFor(feeds?: Record<string, OnnxValue>, options: { symbolic?: boolean } = {}): Built | undefined {
    this.checkLive();
    const v = this.variantFor(feeds);
    // A symbolic variant's graph holds its first sizes as hints: these feeds get their own graph,
    // unless the symbolic graph itself is asked for (its inputs' dims the size symbols).
    if (v?.symbolic) return options.symbolic ? this.builtOf(v) : this.build(v.fixed, this.checkFeeds(feeds!).binding);
    return v ? this.builtOf(v) : undefined;
  }

  /** The variant for compile() and graphFor(): undefined without feeds when the graph needs them. */
  private variantFor(feeds: Record<string, OnnxValue> | undefined): Variant | undefined {
    if (!feeds) return this.variant(undefined, undefined);
    const { numeric, binding } = this.checkFeeds(feeds);
    return this.variant(numeric, binding);
  }

  /** Why the model needs feeds to build its graph. */
  private needsFeeds(): string {
    const why: string[] = [];
    if (this.dynamic) why.push(`its inputs have symbolic dims (${this.describeInputs()}), sized by the feeds`);
    if (this.valueInputs.length) why.push(`the graph depends on the values of input(s) ${this.valueInputs.map((n) => `'${n}'`).join(', ')}`);
    return why.join('; ');
  }

  /**
   * Disposes every program the model compiled for itself (one per shape or value variant, a
   * compile still running included, once it finishes) and drops its graphs and weight arrays.
   * A Program that compile() returned for options of its own is the caller's to dispose.
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.variants.clear();
    this.inits.clear();
  }

  private checkLive(): void {
    if (this.disposed) throw new OnnxModelError(this.file, 'this model was disposed: load it again (loadOnnx) to run or compile it');
  }

  inspect(): OnnxModelInfo {
    const ops: Record<string, number> = {};
    for (const n of this.m.nodes) ops[n.opType] = (ops[n.opType] ?? 0) + 1;
    let elements = 0;
    for (const t of this.m.initializers.values()) elements += (t.dims ?? []).reduce<number>((a, d) => a * Number(d), 1);
    // A warm start has no graph: inspecting it builds one (a diagnostic, not the load path).
    const first = this.variants.values().at(-1);
    const built = first ? this.builtOf(first) : undefined;
    let graphNodes: Record<string, number> | undefined;
    if (built) {
      graphNodes = {};
      for (const n of built.traced.graph.nodes) {
        const k = n.op === 'unary' || n.op === 'binary' || n.op === 'reduce' ? `${n.op}:${n.fn}` : n.op;
        graphNodes[k] = (graphNodes[k] ?? 0) + 1;
      }
    }
    return {
      ops,
      opset: this.m.opset,
      producer: [this.m.proto.producerName, this.m.proto.producerVersion].filter(Boolean).join(' '),
      nodes: this.m.nodes.length,
      initializers: { count: this.m.initializers.size, elements },
      inputs: this.inputs,
      outputs: this.outputNames,
      valueInputs: [...this.valueInputs],
      symbolicDims: [...new Set(this.inputs.flatMap((i) => i.dims.flatMap((d, k) => (typeof d === 'string' ? [symbolOf(i.name, k, d)] : []))))],
      shapeVariants: this.variants.size,
      ...(this.symbolic ? { symbolic: this.symbolic.status() } : {}),
      ...(graphNodes ? { graphNodes } : {}),
    };
  }
}

/** A variant built for one binding: its program serves exactly those sizes (shape_variants.ts's contract). */
function perShapeVariant(valueKey: string, fixed: Map<string, ConstTensor>, binding: Binding, graph: Pick<Variant, 'built' | 'record'>): Variant {
  const own = bindingEntries(binding);
  const v: Variant = {
    valueKey,
    fixed,
    binding,
    ...graph,
    accepts: (b) => b.size === own.length && own.every(([k, n]) => b.get(k) === n),
    refusal: () => `it serves ${fmtBinding(binding)} only`,
    dispose: () => {
      // A compiled program's device memory is freed now (a caller checking memory right after
      // dispose() sees it back); one still compiling is disposed when it arrives.
      if (v.compiled) v.compiled.dispose();
      else v.program?.then((p) => p.dispose(), () => {});
      v.program = undefined;
      v.compiled = undefined;
      v.built = undefined;
      v.checked = undefined;
      v.source = undefined;
    },
  };
  return v;
}

/** KILN_ONNX_ORACLE=interpret: runs the graph through the reference interpreter instead. */
async function interpretBuilt(b: Built, inputs: NDArray[]): Promise<NDArray[]> {
  const path = '../graph/interpret.js';
  const { interpret } = (await import(path)) as {
    interpret: (g: unknown, xs: NDArray[]) => { shape: number[]; dtype: DType; data: Float64Array }[];
  };
  return interpret(b.traced.graph, [...inputs, ...b.traced.params]).map((r) => NDArray.from(r.data, r.shape, { dtype: r.dtype }));
}

/** An input spec as a conversion record stores it: each symbolic dim by its symbol's name. */
function storedSpec(s: InputSpec): StoredSpec {
  const sym = s.shape.map((n, i) => {
    const d = s.sym?.[i];
    return d === undefined || typeof d === 'number' ? n : d.bareSymbol!;
  });
  return { shape: [...s.shape], dtype: s.dtype, sym };
}

/** A stored spec as compileSymbolic made it. */
function inputSpec(s: StoredSpec): InputSpec {
  return { shape: s.shape, dtype: s.dtype, sym: s.sym.map((d) => (typeof d === 'number' ? d : SymInt.symbol(d))) };
}
