import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend.js';
import { CHECKPOINT_FORMAT, loadCheckpoint, pruneCheckpoints, resolveCheckpoint, saveCheckpoint, setPointer } from '../../src/model/checkpoint.js';
import { UserError } from '../../src/errors.js';
import { tmpDir } from '../helpers/tmp.js';

const state = (step: number) => ({
  formatVersion: CHECKPOINT_FORMAT,
  stage: 'sft',
  step,
  rng: [1, 2, 3, 4] as [number, number, number, number],
  configHash: 'abc',
  bestMetric: 0.5,
  bestStep: step,
  optimizerStep: step,
});

test('save, resolve and load round-trip tensors and state exactly', async () => {
  await initBackend('auto');
  const dir = tmpDir();
  const w = tf.tensor2d([[1.5, -2.25], [3, 4e-7]]);
  const ids = tf.tensor1d([7, -1], 'int32');
  await saveCheckpoint(dir, new Map<string, tf.Tensor>([['w', w], ['ids', ids]]), state(10));
  setPointer(dir, 'best', 10, 0.5);
  const loaded = loadCheckpoint(resolveCheckpoint(dir, 'best'), { stage: 'sft', configHash: 'abc' });
  assert.deepEqual(Array.from(loaded.tensors.get('w')!.dataSync()), Array.from(w.dataSync()));
  assert.deepEqual(loaded.tensors.get('w')!.shape, [2, 2]);
  assert.equal(loaded.tensors.get('ids')!.dtype, 'int32');
  assert.deepEqual(Array.from(loaded.tensors.get('ids')!.dataSync()), [7, -1]);
  assert.equal(loaded.state.step, 10);
  assert.equal(resolveCheckpoint(dir, 'last'), path.join(dir, 'checkpoints', 'step_10'));
  assert.throws(() => loadCheckpoint(loaded.dir, { configHash: 'other' }), /different config/);
  assert.throws(() => resolveCheckpoint(dir, 'final'), (e: unknown) => e instanceof UserError && /Available: best, last, step_10/.test(e.message));
  tf.dispose([w, ids, ...loaded.tensors.values()]);
  // No temp folders left behind by the atomic write.
  assert.deepEqual(fs.readdirSync(path.join(dir, 'checkpoints')), ['step_10']);
});

test('prune keeps the newest and every pointed-to step', async () => {
  await initBackend('auto');
  const dir = tmpDir();
  const t = tf.scalar(1);
  for (const s of [1, 2, 3, 4, 5]) await saveCheckpoint(dir, new Map([['t', t]]), state(s));
  setPointer(dir, 'best', 2);
  pruneCheckpoints(dir, 2);
  assert.deepEqual(fs.readdirSync(path.join(dir, 'checkpoints')).sort(), ['step_2', 'step_4', 'step_5']);
  t.dispose();
});
