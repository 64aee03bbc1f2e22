import { test } from 'node:test';
import assert from 'node:assert/strict';
import { groupAdvantages } from '../../src/rl/advantages.js';

test('advantages of a hand-computed group', () => {
  // Group r = [1, 0, 0, 1]: mean 0.5, sample std sqrt(4*0.25/3) = sqrt(1/3) = 0.57735.
  // A = ±0.5 / (0.57735 + 1e-6) = ±0.866024.
  const a = groupAdvantages([1, 0, 0, 1], 1, 4);
  const expected = 0.5 / (Math.sqrt(1 / 3) + 1e-6);
  assert.deepEqual(Array.from(a.values).map((v) => Number(v.toFixed(5))), [expected, -expected, -expected, expected].map((v) => Number(v.toFixed(5))));
  assert.equal(a.fracZeroStd, 0);
  assert.ok(Math.abs(a.meanStd - Math.sqrt(1 / 3)) < 1e-12);
});

test('a zero-std group gets A = 0 and is counted; other groups are unaffected', () => {
  // Group 0 = [0.7, 0.7, 0.7] (zero std); group 1 = [-1, 0, 1]: mean 0, std 1 -> A = r/(1+1e-6).
  const a = groupAdvantages([0.7, 0.7, 0.7, -1, 0, 1], 2, 3);
  assert.deepEqual(Array.from(a.values.slice(0, 3)), [0, 0, 0]);
  assert.ok(Math.abs(a.values[3] + 1 / (1 + 1e-6)) < 1e-6 && Math.abs(a.values[5] - 1 / (1 + 1e-6)) < 1e-6);
  assert.equal(a.values[4], 0);
  assert.deepEqual(Array.from(a.zeroStd), [1, 0]);
  assert.equal(a.fracZeroStd, 0.5);
});
