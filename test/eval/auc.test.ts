/** AUC, GAUC and Spearman on worked examples (ties count one half). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { auc, aucParts, averageRanks, gauc, spearman } from '../../src/eval/auc.js';
import { Rng } from '../../src/rng.js';

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b}`);

test('AUC of the classic 4-sample example is 3/4', () => {
  // positives 0.35, 0.8; negatives 0.1, 0.4. Pairs: 0.35>0.1 yes, 0.35>0.4 no, 0.8>0.1 yes, 0.8>0.4 yes -> 3/4.
  close(auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 0.75);
  assert.deepEqual(aucParts([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), { correct: 3, pairs: 4 });
});

test('AUC counts a tie between a positive and a negative as one half', () => {
  // positives 0.5, 0.9; negatives 0.5, 0.2. Pairs: 0.5=0.5 -> 1/2, 0.5>0.2, 0.9>0.5, 0.9>0.2 -> 3.5/4.
  close(auc([0.5, 0.5, 0.2, 0.9], [1, 0, 0, 1]), 0.875);
  // Everything tied: every pair is a tie.
  close(auc([1, 1, 1, 1], [1, 0, 1, 0]), 0.5);
  // Order of the input does not matter.
  close(auc([0.9, 0.2, 0.5, 0.5], [1, 0, 0, 1]), 0.875);
});

test('AUC is NaN with one class, 1 for a perfect and 0 for a reversed scorer', () => {
  assert.ok(Number.isNaN(auc([0.1, 0.2], [1, 1])));
  assert.ok(Number.isNaN(auc([], [])));
  close(auc([1, 2, 3, 4], [0, 0, 1, 1]), 1);
  close(auc([4, 3, 2, 1], [0, 0, 1, 1]), 0);
});

test('soft labels: an item is a positive with weight y and a negative with 1 - y, never paired with itself', () => {
  // scores 1, 2, 3; labels 0.5, 0, 1. Pairs (pos i, neg j, weight y_i(1-y_j)):
  // (0,1) w .5, 1<2 wrong; (2,0) w .5, 3>1 right; (2,1) w 1, 3>2 right; (0,0) excluded -> 1.5 / 2.
  close(auc([1, 2, 3], [0.5, 0, 1]), 0.75);
  // scores 1, 2; labels .5, 1: the only pair with weight is (1 pos, 0 neg) w .5, right -> 1.
  close(auc([1, 2], [0.5, 1]), 1);
});

test('AUC equals the brute-force pair count on random data with ties', () => {
  const rng = new Rng(3);
  for (let rep = 0; rep < 5; rep++) {
    const n = 60;
    const s = Array.from({ length: n }, () => rng.int(8)); // many ties
    const y = Array.from({ length: n }, () => (rng.bernoulli(0.4) ? 1 : 0));
    let num = 0;
    let den = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        if (y[i] !== 1 || y[j] !== 0) continue;
        den++;
        num += s[i] > s[j] ? 1 : s[i] === s[j] ? 0.5 : 0;
      }
    }
    close(auc(s, y), num / den, 1e-12);
  }
});

test('GAUC averages per-user AUCs over users with both classes, by impressions or by user', () => {
  // user 7: the 4-sample example, AUC .75 over 4 candidates; user 8: AUC 1 over 2; user 9: one class, skipped.
  const scores = [0.1, 0.4, 0.35, 0.8, 0.3, 0.2, 0.5, 0.6];
  const labels = [0, 0, 1, 1, 1, 0, 1, 1];
  const users = [7, 7, 7, 7, 8, 8, 9, 9];
  const byImp = gauc(scores, labels, users, 'impressions');
  close(byImp.gauc, (4 * 0.75 + 2 * 1) / 6); // 5/6
  assert.equal(byImp.users, 2);
  assert.equal(byImp.skipped, 1);
  close(gauc(scores, labels, users, 'user').gauc, (0.75 + 1) / 2);
  // Groups need not be contiguous.
  const perm = [3, 6, 0, 5, 1, 7, 2, 4];
  close(
    gauc(
      perm.map((i) => scores[i]),
      perm.map((i) => labels[i]),
      perm.map((i) => users[i]),
    ).gauc,
    5 / 6,
  );
});

test('Spearman: average ranks for ties, worked example and the extremes', () => {
  assert.deepEqual([...averageRanks([10, 30, 20, 30])], [1, 3.5, 2, 3.5]);
  // x ranks 1..5; y = 5,6,7,8,7 has ranks 1,2,3.5,5,3.5. Centred: dx -2..2, dy -2,-1,.5,2,.5:
  // sxy = 4+1+0+2+1 = 8, sxx = 10, syy = 4+1+.25+4+.25 = 9.5 -> 8/sqrt(95).
  close(spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]), 8 / Math.sqrt(95));
  close(spearman([1, 2, 3], [10, 20, 30]), 1);
  close(spearman([1, 2, 3], [3, 2, 1]), -1);
  assert.ok(Number.isNaN(spearman([1, 2, 3], [5, 5, 5])));
});
