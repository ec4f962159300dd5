// Errors the ONNX importer raises. Each names the model file so a user loading several
// models knows which one is at fault; OnnxUnsupportedError lists every problem at once so
// one load tells the user everything kiln cannot do with the model, not just the first.

export class OnnxParseError extends Error {
  constructor(readonly file: string, detail: string) {
    super(`${file}: not a valid ONNX model (${detail})`);
    this.name = 'OnnxParseError';
  }
}

export class OnnxUnsupportedError extends Error {
  constructor(readonly file: string, readonly issues: readonly string[]) {
    super(
      issues.length === 1
        ? `${file}: unsupported: ${issues[0]}`
        : `${file}: ${issues.length} unsupported features:\n${issues.map((i) => `  - ${i}`).join('\n')}`,
    );
    this.name = 'OnnxUnsupportedError';
  }
}

/** A model kiln could parse and supports, but whose graph is inconsistent (bad shapes, dangling names). */
export class OnnxModelError extends Error {
  constructor(readonly file: string, detail: string) {
    super(`${file}: ${detail}`);
    this.name = 'OnnxModelError';
  }
}

/** Feeds passed to run() that do not match the model's inputs. */
export class OnnxInputError extends Error {
  constructor(detail: string) {
    super(detail);
    this.name = 'OnnxInputError';
  }
}

/**
 * Thrown by a converter for a model feature kiln cannot handle; the loader collects these
 * into one OnnxUnsupportedError. Plain errors from the graph builders are model errors.
 */
export class Unsupported extends Error {
  constructor(detail: string) {
    super(detail);
    this.name = 'Unsupported';
  }
}
