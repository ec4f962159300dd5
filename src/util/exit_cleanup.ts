// Cleanups that must run however the process ends short of SIGKILL: compile markers to
// remove (cache/compile_lock.ts), compiler process groups to kill and temporary directories
// to remove (compile/subprocess.ts). While at least one cleanup is held, this module listens
// for 'exit', SIGINT, SIGTERM and SIGHUP; when the last is dropped it stops listening, so a
// process that holds nothing keeps Node's default signal behaviour untouched.
//
// On a signal that no one else listens for, the cleanups run synchronously, our listeners
// are removed and the signal is re-raised, so the process dies of it as it would have
// (status 128 + n, the parent sees the signal). If the program has a listener of its own,
// exiting or not is its decision: we do nothing then (its process.exit(), or the process
// ending when its work is done, runs the cleanups through 'exit'), and its listener is never
// removed or pre-empted.

type Cleanup = () => void;

const held = new Set<{ fn: Cleanup }>();
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
let installed = false;

function runAll(): void {
  for (const h of [...held]) {
    held.delete(h);
    try {
      h.fn();
    } catch {
      // best effort: one failing cleanup must not stop the others
    }
  }
}

function onExit(): void {
  runAll();
}

function onSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return;
  runAll();
  uninstall();
  process.kill(process.pid, signal);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', onExit);
  for (const s of SIGNALS) process.on(s, onSignal);
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  process.removeListener('exit', onExit);
  for (const s of SIGNALS) process.removeListener(s, onSignal);
}

/**
 * Runs `fn` (synchronously, once) if the process exits or is signalled before the returned
 * release is called. release() drops it without running it.
 */
export function holdCleanup(fn: Cleanup): () => void {
  const h = { fn };
  held.add(h);
  install();
  return () => {
    held.delete(h);
    if (held.size === 0) uninstall();
  };
}

/** Runs every held cleanup now (a worker about to kill itself). */
export function runCleanupsNow(): void {
  runAll();
  uninstall();
}
