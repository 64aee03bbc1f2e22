import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EMPTY, INVALID, computeMetrics, hallucinationAt, hitAt, ndcgAt, popularityPercentiles, type RankedList } from '../../src/eval/metrics.js';
import { popularItems } from '../../src/eval/popular.js';

const near = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-9, `${what}: ${a} vs ${b}`);

test('HR, NDCG and hallucination of single lists', () => {
  const items = [3, 7, INVALID, 5];
  assert.equal(hitAt(items, 7, 1), 0);
  assert.equal(hitAt(items, 7, 2), 1);
  assert.equal(hitAt(items, 9, 20), 0);
  // First hit at rank 2: 1/log2(3) = 0.6309298
  near(ndcgAt(items, 7, 2), 1 / Math.log2(3), 'ndcg@2');
  near(ndcgAt(items, 3, 5), 1, 'ndcg rank 1');
  assert.equal(ndcgAt(items, 7, 1), 0);
  // One invalid tuple among the top 4: 1/4; among the top 2: 0; top 10 of a 4-long list: 1/10.
  near(hallucinationAt(items, 4), 0.25, 'hall@4');
  near(hallucinationAt(items, 2), 0, 'hall@2');
  near(hallucinationAt(items, 10), 0.1, 'hall@10');
});

test('computeMetrics on a worked example of two users', () => {
  // User A: target 7, list [3, 7, invalid, 5]. User B: target 9, list [9, invalid, invalid, 2].
  //   hr@1 = (0 + 1)/2 = 0.5;  hr@2 = (1 + 1)/2 = 1
  //   ndcg@2 = (1/log2 3 + 1)/2 = (0.6309298 + 1)/2 = 0.8154649
  //   hallucination@4 = (1/4 + 2/4)/2 = 0.375;  hallucination@1 = (0 + 0)/2 = 0
  //   validity = valid tuples / returned = 5/8 = 0.625
  //   coverage@10 over 10 items: {3, 7, 5, 9, 2} = 5/10 = 0.5
  // Popularity percentiles of 10 items with counts [0,0,5,5,5,1,1,1,1,9] by mid-rank
  // (100*(smaller + equal/2)/10): count 0 -> 10, 1 -> 40, 5 -> 75, 9 -> 95.
  //   A's valid items 3 (75), 7 (40), 5 (40) -> 51.666..; B's 9 (95), 2 (75) -> 85;
  //   popularity@10 = (51.6667 + 85)/2 = 68.3333
  // Utility = item index / 10: A (0.3 + 0.7 + 0.5)/3 = 0.5, B (0.9 + 0.2)/2 = 0.55 -> 0.525
  const lists: RankedList[] = [
    { user: 0, target: 7, lastItem: 1, items: [3, 7, INVALID, 5] },
    { user: 1, target: 9, lastItem: -1, items: [9, INVALID, INVALID, 2] },
  ];
  const counts = [0, 0, 5, 5, 5, 1, 1, 1, 1, 9];
  const m = computeMetrics(lists, { ks: [1, 2, 4], numItems: 10, counts, utility: (_u, _last, item) => item / 10 });
  near(m['hr@1'], 0.5, 'hr@1');
  near(m['hr@2'], 1, 'hr@2');
  near(m['ndcg@1'], 0.5, 'ndcg@1');
  near(m['ndcg@2'], (1 / Math.log2(3) + 1) / 2, 'ndcg@2');
  near(m['hallucination@4'], 0.375, 'hall@4');
  near(m['hallucination@1'], 0, 'hall@1');
  near(m.validity, 0.625, 'validity');
  near(m['coverage@10'], 0.5, 'coverage');
  near(m['popularity@10'], (155 / 3 + 85) / 2, 'popularity');
  near(m['utility@10'], 0.525, 'utility');
});

test('empty slots (constrained beam over a tiny catalog) are neither hits nor hallucinations', () => {
  const m = computeMetrics([{ user: 0, target: 1, lastItem: -1, items: [2, 1, EMPTY, EMPTY] }], { ks: [4], numItems: 3 });
  near(m['hr@4'], 1, 'hr');
  near(m['hallucination@4'], 0, 'hall');
  near(m.validity, 1, 'validity');
});

test('popularity percentiles by mid-rank, and the popular list', () => {
  // counts [0, 5, 5, 10]: 0 -> (0 + 1/2)/4 = 12.5; 5 -> (1 + 2/2)/4 = 50; 10 -> (3 + 1/2)/4 = 87.5
  assert.deepEqual(Array.from(popularityPercentiles([0, 5, 5, 10])), [12.5, 50, 50, 87.5]);
  // Most trained-on first, ties by lower index.
  assert.deepEqual(Array.from(popularItems([3, 9, 9, 1, 4], 4)), [1, 2, 4, 0]);
});
