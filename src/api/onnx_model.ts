// The loaded model: checks feeds, builds the graph for them (once per distinct value of any
// inputs that shapes depend on), compiles lazily through compileGraph and runs. STRING inputs
// and outputs are converted here, on the host, before and after the compiled program.

import type { CompileOptions, Program } from './program.js';
import { compileGraph } from './program.js';
import { setting } from '../config/read.js';
import type { DType } from '../graph/dtype.js';
import { fmtShape, sameShape } from '../graph/shape.js';
import { NDArray } from '../graph/ndarray.js';
import type { ParsedModel } from '../onnx/check.js';
import type { Built, ModelInput } from '../onnx/model_api.js';
import type { OnnxModel, OnnxModelInfo } from './onnx_model_api.js';
import { ConstTensor } from '../onnx/const_tensor.js';
import { NeedsInputValues } from '../onnx/context.js';
import { type InitializerCache, buildGraph } from '../onnx/convert.js';
import { OnnxInputError, OnnxModelError } from '../onnx/errors.js';
import type { OpTable } from '../onnx/ops/index.js';
import { type OnnxValue, StringTensor } from '../onnx/string_tensor.js';
import { formatStrings, parseStrings } from '../onnx/strings.js';

/** Feeds by graph-input name, all numeric: string feeds already parsed into their Casts' outputs. */
type NumericFeeds = Record<string, NDArray>;

interface Variant {
  built: Built;
  program?: Promise<Program>;
}

/** loadOnnx's result; users see its interface, OnnxModel (onnx_model_api.ts). */
export class LoadedOnnxModel implements OnnxModel {
  readonly inputNames: string[];
  readonly outputNames: string[];
  readonly stringOutputs: string[];
  readonly inputs: ModelInput[];
  /** Graph inputs whose values shape the graph (found on load or on first run). */
  readonly valueInputs: string[] = [];
  private readonly variants = new Map<string, Variant>();
  private readonly inits: InitializerCache = new Map();

  constructor(
    private readonly m: ParsedModel,
    private readonly table: OpTable,
    private readonly options: CompileOptions,
  ) {
    this.inputs = m.inputs.map((i) => ({ ...i, shape: [...i.shape] }));
    this.inputNames = m.inputs.map((i) => i.name);
    this.outputNames = m.outputs.map((o) => o.name);
    this.stringOutputs = this.outputNames.filter((n) => m.strings.formats.has(n));
    // Build now so that unsupported or broken models fail at load, before any compile.
    this.variant(undefined);
  }

  get file(): string {
    return this.m.file;
  }

  /**
   * The graph for these feeds: built once per distinct value of the value inputs. Without
   * feeds, returns undefined when the graph needs some input's value.
   */
  private variant(feeds: NumericFeeds | undefined): Variant | undefined {
    for (;;) {
      const fixed = new Map<string, ConstTensor>();
      for (const name of this.valueInputs) {
        if (!feeds) return undefined;
        fixed.set(name, ConstTensor.fromNDArray(feeds[name]!));
      }
      const key = JSON.stringify([...fixed].map(([k, v]) => [k, v.values()]));
      const known = this.variants.get(key);
      if (known) return known;
      try {
        const v = { built: buildGraph(this.m, this.table, fixed, this.inits) };
        this.variants.set(key, v);
        return v;
      } catch (e) {
        if (!(e instanceof NeedsInputValues)) throw e;
        const added = e.inputs.filter((n) => !this.valueInputs.includes(n));
        if (added.length === 0) throw new OnnxModelError(this.m.file, e.message);
        this.valueInputs.push(...added);
      }
    }
  }

  /** Validates feeds against the model's inputs (names, then shapes and dtypes) and parses string feeds. */
  private checkFeeds(feeds: Record<string, OnnxValue>): NumericFeeds {
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
    const numeric: NumericFeeds = {};
    for (const inp of this.inputs) {
      const a = feeds[inp.name];
      const kind = inp.dtype === 'string' ? StringTensor : NDArray;
      if (!(a instanceof kind)) throw new OnnxInputError(`${this.file}: input '${inp.name}' must be ${inp.dtype === 'string' ? 'a StringTensor' : 'an NDArray'}`);
      if (a.dtype !== inp.dtype || !sameShape(a.shape, inp.shape)) {
        throw new OnnxInputError(`${this.file}: input '${inp.name}' expects ${inp.dtype}${fmtShape(inp.shape)}, got ${a.dtype}${fmtShape(a.shape)}`);
      }
      if (a instanceof NDArray) numeric[inp.name] = a;
      else for (const c of this.m.strings.casts.get(inp.name) ?? []) numeric[c.value] = parseStrings(a, c.dtype, `${this.file}: input '${inp.name}'`);
    }
    return numeric;
  }

  describeInputs(): string {
    return this.inputs.map((i) => `${i.name}: ${i.dtype}${fmtShape(i.shape)}`).join(', ');
  }

  private programFor(v: Variant): Promise<Program> {
    if (!v.program) {
      v.program = compileGraph(v.built.traced, { label: this.file, ...this.options });
      v.program.catch(() => (v.program = undefined));
    }
    return v.program;
  }

  /**
   * Compiles now (run() otherwise compiles on first call) and returns the Program. Models
   * whose graph depends on input values need those feeds.
   */
  async compile(feeds?: Record<string, OnnxValue>, options: CompileOptions = {}): Promise<Program> {
    const v = this.variant(feeds ? this.checkFeeds(feeds) : undefined);
    if (!v) throw new OnnxInputError(`${this.file}: the graph depends on the values of input(s) ${this.valueInputs.map((n) => `'${n}'`).join(', ')}: pass feeds to compile()`);
    if (Object.keys(options).length) return compileGraph(v.built.traced, { label: this.file, ...this.options, ...options });
    return this.programFor(v);
  }

  /** Runs the model: its outputs, all NDArrays (a model with STRING outputs takes runValues()). */
  async run(feeds: Record<string, OnnxValue>): Promise<Record<string, NDArray>> {
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
    const numeric = this.checkFeeds(feeds);
    const v = this.variant(numeric)!;
    const inputs = v.built.runtimeInputs.map((n) => numeric[n]!);
    const outs = setting('KILN_ONNX_ORACLE') === 'interpret' ? await interpretBuilt(v.built, inputs) : await (await this.programFor(v)).run(inputs);
    const named: [string, OnnxValue][] = [];
    for (const [i, n] of this.outputNames.entries()) named.push([n, this.m.strings.formats.has(n) ? await formatStrings(outs[i]!) : outs[i]!]);
    return Object.fromEntries(named);
  }

  /** The traced graph for these feeds (for tests and the interpreter oracle). */
  graphFor(feeds?: Record<string, OnnxValue>): Built | undefined {
    return this.variant(feeds ? this.checkFeeds(feeds) : undefined)?.built;
  }

  inspect(): OnnxModelInfo {
    const ops: Record<string, number> = {};
    for (const n of this.m.nodes) ops[n.opType] = (ops[n.opType] ?? 0) + 1;
    let elements = 0;
    for (const t of this.m.initializers.values()) elements += (t.dims ?? []).reduce<number>((a, d) => a * Number(d), 1);
    const built = this.variants.size ? [...this.variants.values()][0]!.built : undefined;
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
      ...(graphNodes ? { graphNodes } : {}),
    };
  }
}

/** KILN_ONNX_ORACLE=interpret: runs the graph through the reference interpreter instead. */
async function interpretBuilt(b: Built, inputs: NDArray[]): Promise<NDArray[]> {
  const path = '../graph/interpret.js';
  const { interpret } = (await import(path)) as {
    interpret: (g: unknown, xs: NDArray[]) => { shape: number[]; dtype: DType; data: Float64Array }[];
  };
  return interpret(b.traced.graph, [...inputs, ...b.traced.params]).map((r) => NDArray.from(r.data, r.shape, { dtype: r.dtype }));
}
