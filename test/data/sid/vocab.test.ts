import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BOS, PAD, SEP, Vocab } from '../../../src/data/sid/vocab.js';

test('Vocab: specials first, then one token per (level, code); round-trips', () => {
  // K = (4, 3, 2): level 0 tokens 3..6, level 1 tokens 7..9, level 2 tokens 10..11; size 12.
  const v = new Vocab([4, 3, 2]);
  assert.deepEqual([PAD, BOS, SEP, v.specialCount], [0, 1, 2, 3]);
  assert.deepEqual(Array.from(v.offsets), [3, 7, 10, 12]);
  assert.equal(v.size, 12);
  assert.equal(v.token(1, 2), 9);
  assert.equal(v.level(9), 1);
  assert.equal(v.code(9), 2);
  for (let l = 0; l < 3; l++)
    for (let c = 0; c < [4, 3, 2][l]; c++) {
      const t = v.token(l, c);
      assert.deepEqual([v.level(t), v.code(t)], [l, c]);
    }
  for (const t of [PAD, BOS, SEP, 12, -1]) assert.deepEqual([v.level(t), v.code(t)], [-1, -1]);
  assert.ok(v.isSpecial(BOS) && !v.isSpecial(3));
  assert.deepEqual(Array.from(v.encode([3, 0, 1])), [6, 7, 11]);
  assert.throws(() => v.token(1, 3), RangeError);
  assert.throws(() => v.token(3, 0), RangeError);
});
