/**
 * The webgpu backend's set-up and the fixes the backend module applies to it. Needs a WebGPU
 * adapter (lavapipe in CI, see .ci/run) and fails without one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { adapterLine, describeAdapter, initBackend } from '../../src/backend.js';

test('adapters are classed software or hardware from their info', () => {
  // What Dawn reports for lavapipe (Mesa 25), SwiftShader, a fallback adapter and an NVIDIA GPU.
  assert.equal(describeAdapter({ vendor: 'mesa', architecture: 'software', device: 'llvmpipe-llvm-15-0-6-256-bits-', description: 'llvmpipe: Mesa 25.0.7' }).software, true);
  assert.equal(describeAdapter({ vendor: 'google', architecture: '', device: 'swiftshader-device', description: 'SwiftShader Device (Subzero)' }).software, true);
  assert.equal(describeAdapter({ vendor: 'x', architecture: '', device: '', description: '', isFallbackAdapter: true }).software, true);
  const nv = describeAdapter({ vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA H200' });
  assert.equal(nv.software, false);
  assert.equal(adapterLine(nv), 'NVIDIA H200 [nvidia hopper], hardware');
  assert.equal(adapterLine(describeAdapter({})), 'unnamed adapter, hardware');
});

test('--backend webgpu takes a software adapter with a warning and records the adapter', async () => {
  const info = await initBackend('webgpu');
  assert.equal(info.name, 'webgpu');
  assert.ok(info.adapter, 'the adapter is recorded');
  if (info.adapter.software) assert.match(info.warnings.join('\n'), /software adapter/);
  const auto = await initBackend('auto');
  // 'auto' after a choice keeps that choice (commands call initBackend more than once).
  assert.equal(auto.name, 'webgpu');
});

test('AddN over more inputs than the device binds per shader stage is split, exactly', async () => {
  await initBackend('webgpu');
  const before = tf.memory().numTensors;
  // Integers: every order of additions gives the exact sum. 23 inputs > the default 7 (+1 output).
  const xs = Array.from({ length: 23 }, (_, i) => tf.tensor1d([i, 2 * i]));
  const s = tf.addN(xs);
  assert.deepEqual(Array.from(await s.data()), [253, 506]);
  tf.dispose([s, ...xs]);
  assert.equal(tf.memory().numTensors, before);
});

test('a WebGPU device error is raised at the next read-back instead of returning zeros (last: it is sticky)', async () => {
  await initBackend('webgpu');
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const device = (tf.backend() as any).device as { createBuffer(d: { size: number; usage: number }): { destroy(): void } };
  device.createBuffer({ size: 4, usage: 0 }); // usage 0 is invalid: a validation error, reported by event
  const x = tf.add(tf.ones([4]), 1);
  await assert.rejects(x.data(), /WebGPU device error/);
  x.dispose();
});
