import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffPaths } from '../../src/config/diff.js';

test('diffPaths lists the sorted dot paths of differing leaves; lists compare as wholes', () => {
  const a = { sft: { lr: 1, steps: 3 }, eval: { ks: [1, 10] }, name: 'x' };
  const b = { sft: { lr: 2, steps: 3 }, eval: { ks: [1, 10, 20] }, extra: { k: 1 }, name: 'x' };
  assert.deepEqual(diffPaths(a, b), ['eval.ks', 'extra', 'sft.lr']);
  assert.deepEqual(diffPaths(a.sft, b.sft, 'sft'), ['sft.lr']);
  assert.deepEqual(diffPaths(a, a), []);
});
