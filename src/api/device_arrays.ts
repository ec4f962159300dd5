// Moving arrays between the host and a device. A program reads a device-resident input where it
// is: an input kept on the GPU across calls (or an output fed back in) is never copied per call.

import { type Device, NDArray } from '../graph/ndarray.js';

/**
 * `a` on `device`: itself when it is there already, else a copy (host → GPU: one device
 * buffer, freed by `deviceData().release()` or when collected; GPU → host: the values read
 * back). Throws a clear error where the device is unavailable (the CUDA driver's reason).
 */
export async function toDevice(a: NDArray, device: Device): Promise<NDArray> {
  if (!(a instanceof NDArray)) throw new TypeError(`toDevice: expected an NDArray, got ${Object.prototype.toString.call(a)}`);
  if (a.device === device) return a;
  if (device === 'cpu') return NDArray.from(await a.toTypedArray(), a.shape, { dtype: a.dtype });
  if (device !== 'cuda') throw new TypeError(`toDevice: unknown device '${String(device)}' (cpu or cuda)`);
  // Only a dynamic import reaches the CUDA backend, so CPU-only use never loads it.
  const { uploadArray } = await import('../backends/cuda/runtime.js');
  return uploadArray(a);
}
