import { test } from 'node:test';
import assert from 'node:assert/strict';
import { leaveOneOut, splitSizes, trainItemCounts } from '../../src/data/splits.js';
import type { Dataset } from '../../src/data/types.js';

function dataset(seqs: number[][], numItems: number): Dataset {
  return {
    name: 't',
    source: 'csv',
    itemIds: Array.from({ length: numItems }, (_, i) => `i${i}`),
    userIds: seqs.map((_, u) => `u${u}`),
    sequences: seqs.map((s) => Int32Array.from(s)),
    itemText: null,
    truth: null,
  };
}

test('leaveOneOut: last = test, second-to-last = valid, the rest = train', () => {
  // u0: 0 1 2 3 -> train [0,1], valid (hist [0,1], target 2), test (hist [0,1,2], target 3)
  // u1: 4 5 6   -> train [4],   valid (hist [4], target 5),   test (hist [4,5], target 6)
  // u2: 1 0 4   -> train [1],   valid (hist [1], target 0),   test (hist [1,0], target 4)
  const ds = dataset([[0, 1, 2, 3], [4, 5, 6], [1, 0, 4]], 7);
  const s = leaveOneOut(ds);
  assert.deepEqual(s.train.map((x) => Array.from(x)), [[0, 1], [4], [1]]);
  assert.deepEqual(s.valid.map((e) => [e.user, Array.from(e.history), e.target]), [[0, [0, 1], 2], [1, [4], 5], [2, [1], 0]]);
  assert.deepEqual(s.test.map((e) => [e.user, Array.from(e.history), e.target]), [[0, [0, 1, 2], 3], [1, [4, 5], 6], [2, [1, 0], 4]]);
  assert.deepEqual(splitSizes(s), { train: 4, valid: 3, test: 3 });
  // Train popularity counts only train prefixes: item 0 once (u0), 1 twice (u0, u2), 4 once (u1);
  // 2, 3, 5, 6 only as valid/test targets -> 0 (no leakage).
  assert.deepEqual(Array.from(trainItemCounts(s, 7)), [1, 2, 0, 0, 1, 0, 0]);
});

test('leaveOneOut refuses a sequence shorter than 3 (prepareData drops those users first)', () => {
  assert.throws(() => leaveOneOut(dataset([[0, 1, 2], [3, 4]], 5)), /user 1 \(u1\) has 2 items/);
});
