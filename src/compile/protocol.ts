// Messages between the pool (main process) and a compile worker, over the fork IPC channel
// with serialization: 'advanced', so binaries travel as Uint8Array without base64.
import type { TraceEvent } from '../observe/trace.js';
import type { CompilerResult } from '../cache/compiled_kernel.js';
import type { CompileJob } from './types.js';

/** main → worker: compile one kernel. `attempt` starts at 1; test crash hooks fire only on early attempts. */
export interface JobMessage {
  type: 'job';
  id: number;
  attempt: number;
  req: CompileJob;
}

export type ToWorker = JobMessage;

/** worker → main: sent once after start-up; the pool sends no job before it. */
export interface ReadyMessage {
  type: 'ready';
  pid: number;
}

export interface DoneMessage {
  type: 'done';
  id: number;
  pid: number;
  result: CompilerResult;
  /** The worker's compile span, on the shared epoch clock; the main process records it. */
  span: TraceEvent;
}

export interface FailedMessage {
  type: 'failed';
  id: number;
  pid: number;
  /** The compiler's error, already naming the kernel. */
  message: string;
  span: TraceEvent;
}

export type FromWorker = ReadyMessage | DoneMessage | FailedMessage;
