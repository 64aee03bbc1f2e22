/**
 * The ranker evaluation: popularity buckets, the uniform-within-bucket candidate set (labelled by
 * the true click model on the synthetic world, by the next item on real logs), per-group metrics
 * and the printed table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../../src/config/load.js';
import { leaveOneOut } from '../../src/data/splits.js';
import { clickProbability, generateSyntheticWorld, trueUtility } from '../../src/data/synthetic.js';
import type { Dataset } from '../../src/data/types.js';
import { buildRankerEvalSet, formatRankerEval, popularityBuckets, rankerEvalResult } from '../../src/eval/rankerEval.js';

const config = validateConfig({
  data: { synthetic: { numItems: 40, numUsers: 30, numCategories: 4, minSeqLen: 5, maxSeqLen: 8, impressionSize: 5 } },
});
const world = generateSyntheticWorld(config.data.synthetic);
const splits = leaveOneOut(world);
const realLog: Dataset = { ...world, source: 'sequences-json', truth: null };

test('popularity buckets: head = top 20% by training count, tail = bottom 50%, ties by item index', () => {
  // counts of items 0..9; sorted desc: i1(9) i8(8) | i5(7) i0(5) i3(3) | i4(3) i7(2) i6(1) i2(0) i9(0).
  const b = popularityBuckets([5, 9, 0, 3, 3, 7, 1, 2, 8, 0]);
  assert.deepEqual([...b], [1, 0, 2, 1, 2, 1, 2, 2, 0, 2]);
});

test('synthetic evaluation set: the same draws every time, candidates outside the history, labels from the click model', () => {
  const a = buildRankerEvalSet(world, splits, config, { perBucket: 4 });
  const b = buildRankerEvalSet(world, splits, config, { perBucket: 4 });
  assert.deepEqual(a.set.items, b.set.items);
  assert.deepEqual(a.set.labels, b.set.labels);
  const { set, bucket } = a;
  assert.equal(set.labelSource, 'true-click-model');
  assert.equal(set.G, 12);
  assert.equal(set.histories.length, 30);
  const { clickScale, clickBias } = config.data.synthetic;
  for (let r = 0; r < 30; r++) {
    const h = set.histories[r];
    const row = set.items.subarray(r * 12, (r + 1) * 12);
    // 4 per bucket, in bucket order.
    assert.deepEqual([...row].map((i) => bucket[i]), [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
    for (let g = 0; g < 12; g++) {
      assert.ok(!h.includes(row[g]), 'no consumed item is a candidate');
      const u = trueUtility(world.truth!, set.users[r], h[h.length - 1], row[g]);
      assert.equal(set.utility![r * 12 + g], u);
      assert.equal(set.clickProb![r * 12 + g], clickProbability(u, clickScale, clickBias));
    }
  }
  // maxUsers subsamples users.
  assert.equal(buildRankerEvalSet(world, splits, config, { perBucket: 2, maxUsers: 7 }).set.histories.length, 7);
});

test('metrics: a perfect scorer gets AUC 1 in every group; scoring by the true click probability gives the oracle AUC', () => {
  const { set, bucket } = buildRankerEvalSet(world, splits, config, { perBucket: 5 });
  const meta = { split: 'valid' as const, perBucket: 5, weighting: 'impressions' as const };
  const perfect = rankerEvalResult(world, set, bucket, Float32Array.from(set.labels), meta);
  assert.deepEqual(
    perfect.rows.map((r) => r.group),
    ['overall', 'head', 'torso', 'tail', 'fresh', 'established'],
  );
  for (const r of perfect.rows) {
    if (Number.isNaN(r.auc)) continue; // a group with one class
    assert.equal(r.auc, 1);
    assert.equal(r.gauc, 1);
  }
  const overall = perfect.rows[0];
  assert.equal(overall.candidates, 30 * 15);
  assert.equal(overall.items, 40);
  assert.equal(perfect.rows[1].items + perfect.rows[2].items + perfect.rows[3].items, 40);
  assert.equal(perfect.rows[1].candidates, 30 * 5);

  const oracle = rankerEvalResult(world, set, bucket, Float32Array.from(set.clickProb!), meta);
  for (const r of oracle.rows) if (!Number.isNaN(r.auc)) assert.ok(Math.abs(r.auc - r.oracleAuc!) < 1e-6, r.group);
  // Scores equal to the utility order: Spearman 1 for every user.
  const byUtility = rankerEvalResult(world, set, bucket, Float32Array.from(set.utility!), meta);
  assert.ok(Math.abs(byUtility.rows[0].spearman! - 1) < 1e-9);

  const table = formatRankerEval(oracle);
  const rows = table.split('\n').filter((l) => l.startsWith('|'));
  assert.equal(rows.length, 2 + 6);
  assert.ok(rows.every((l) => l.length === rows[0].length), 'columns are aligned');
  assert.match(table, /weighted by the user's candidates/);
  assert.match(table, /head = top 20% of items, tail = bottom 50%/);
});

test('real logs: the split target is the positive and the bucket draws are negatives', () => {
  const { set } = buildRankerEvalSet(realLog, splits, config, { perBucket: 3, split: 'test' });
  assert.equal(set.labelSource, 'next-item');
  assert.equal(set.G, 10);
  assert.equal(set.utility, null);
  for (let r = 0; r < set.histories.length; r++) {
    assert.equal(set.items[r * 10], splits.test[r].target);
    assert.deepEqual([...set.labels.subarray(r * 10, (r + 1) * 10)], [1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    for (let g = 1; g < 10; g++) assert.notEqual(set.items[r * 10 + g], splits.test[r].target);
  }
});
