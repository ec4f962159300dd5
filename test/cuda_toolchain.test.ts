// The version ordering the CUDA library searches use (newest toolkit / library file first).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareVersionsDesc } from '../src/backends/cuda/toolchain.js';

test('compareVersionsDesc orders by embedded numbers, newest first', () => {
  assert.deepEqual(['cuda-9.2', 'cuda-12.4', 'cuda-13.0', 'cuda-12.10'].sort(compareVersionsDesc), ['cuda-13.0', 'cuda-12.10', 'cuda-12.4', 'cuda-9.2']);
  assert.deepEqual(
    ['libnvrtc.so.12.4.127', 'libnvrtc.so.13.0.88', 'libnvrtc.so.13.1', 'libnvrtc.so.13'].sort(compareVersionsDesc),
    ['libnvrtc.so.13.1', 'libnvrtc.so.13.0.88', 'libnvrtc.so.13', 'libnvrtc.so.12.4.127'],
  );
  assert.equal(compareVersionsDesc('cuda-13.0', 'cuda-13.0'), 0);
});
