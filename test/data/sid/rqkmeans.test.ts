import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dedup, kmeans, residualKMeans } from '../../../src/data/sid/rqkmeans.js';
import { Rng } from '../../../src/rng.js';

/**
 * 4 blobs centred at (+-10, +-10), each of 4 sub-blobs at offsets (+-1, +-1), each sub-blob 5
 * points: the sub-blob centre plus noise (0,0), (0.1,0), (-0.1,0), (0,0.1), (0,-0.1) (zero mean,
 * mean squared norm 4*0.01/5 = 0.008). Point index = blob*20 + sub*5 + k.
 *  - Level 1 (K=4): centroids = blob centres (sub-blobs are symmetric), residual = (+-1, +-1) +
 *    noise, MSE = 2 + 0.008 = 2.008 (the cross term averages to zero within a sub-blob).
 *  - Level 2 (K=4): the residuals form 4 groups around (+-1, +-1), one per sub-blob position,
 *    whatever the blob; residual = noise, MSE = 0.008.
 */
function blobs(): Float32Array {
  const centres = [
    [-10, -10],
    [-10, 10],
    [10, -10],
    [10, 10],
  ];
  const subs = [
    [-1, -1],
    [-1, 1],
    [1, -1],
    [1, 1],
  ];
  const noise = [
    [0, 0],
    [0.1, 0],
    [-0.1, 0],
    [0, 0.1],
    [0, -0.1],
  ];
  const out: number[] = [];
  for (const [cx, cy] of centres) for (const [sx, sy] of subs) for (const [nx, ny] of noise) out.push(cx + sx + nx, cy + sy + ny);
  return Float32Array.from(out);
}

/** Items grouped by equal key, groups ordered by first item (code numbers are arbitrary). */
function partition(n: number, key: (i: number) => number): number[][] {
  const groups = new Map<number, number[]>();
  for (let i = 0; i < n; i++) groups.set(key(i), [...(groups.get(key(i)) ?? []), i]);
  return [...groups.values()].sort((a, b) => a[0] - b[0]);
}

const range = (n: number, f: (i: number) => boolean = () => true) => Array.from({ length: n }, (_, i) => i).filter(f);

test('residual k-means: level 1 groups the blobs, level 2 the sub-blob positions; MSE pinned', () => {
  const x = blobs();
  for (const seed of [0, 1, 2, 3]) {
    const rq = residualKMeans(x, 80, 2, 2, 4, 25, new Rng(seed));
    assert.deepEqual(rq.codebookSizes, [4, 4]);
    assert.deepEqual(
      partition(80, (i) => rq.codes[i * 2]),
      [0, 1, 2, 3].map((b) => range(80, (i) => Math.floor(i / 20) === b)),
      `level 1, seed ${seed}`,
    );
    assert.deepEqual(
      partition(80, (i) => rq.codes[i * 2 + 1]),
      [0, 1, 2, 3].map((s) => range(80, (i) => Math.floor(i / 5) % 4 === s)),
      `level 2, seed ${seed}`,
    );
    assert.ok(Math.abs(rq.residualMse[0] - 2.008) < 1e-6, `level-1 MSE ${rq.residualMse[0]}`);
    assert.ok(Math.abs(rq.residualMse[1] - 0.008) < 1e-6, `level-2 MSE ${rq.residualMse[1]}`);
  }
});

test('residual k-means is a function of the seed', () => {
  const rng = new Rng(9);
  const x = Float32Array.from({ length: 300 * 4 }, () => rng.normal());
  const a = residualKMeans(x, 300, 4, 3, 8, 10, new Rng(1));
  const b = residualKMeans(x, 300, 4, 3, 8, 10, new Rng(1));
  assert.deepEqual(a.codes, b.codes);
  assert.deepEqual(a.residualMse, b.residualMse);
  // Each level explains some variance: the residual shrinks level by level.
  assert.ok(a.residualMse[0] > a.residualMse[1] && a.residualMse[1] > a.residualMse[2]);
});

test('kmeans matches a brute-force nearest-centroid check (Elkan bounds skip no needed distance)', () => {
  const rng = new Rng(4);
  const n = 500;
  const d = 6;
  const x = Float64Array.from({ length: n * d }, () => rng.normal());
  const km = kmeans(x, n, d, 16, 30, new Rng(2));
  for (let i = 0; i < n; i++) {
    let best = Infinity;
    for (let j = 0; j < 16; j++) {
      let s = 0;
      for (let t = 0; t < d; t++) s += (x[i * d + t] - km.centroids[j * d + t]) ** 2;
      best = Math.min(best, s);
    }
    assert.ok(Math.abs(km.dist[i] - best) < 1e-9, `point ${i}: ${km.dist[i]} vs nearest ${best}`);
  }
});

test('K is capped at the number of points; fewer distinct points than K leaves codes unused', () => {
  // 3 points, K = 8: K_1 = 3 and each point is its own cluster.
  const three = residualKMeans(Float32Array.from([0, 0, 5, 5, 9, 0]), 3, 2, 1, 8, 10, new Rng(0));
  assert.deepEqual(three.codebookSizes, [3]);
  assert.deepEqual([...three.codes].sort(), [0, 1, 2]);
  assert.equal(three.residualMse[0], 0);
  // 5 points at 2 locations, K = 3: the two locations get different codes, one code stays unused.
  const dup = residualKMeans(Float32Array.from([0, 0, 0, 0, 0, 0, 4, 4, 4, 4]), 5, 2, 1, 3, 10, new Rng(0));
  assert.equal(new Set(dup.codes).size, 2);
  assert.equal(dup.codes[0], dup.codes[2]);
  assert.notEqual(dup.codes[0], dup.codes[3]);
  assert.equal(dedup(dup.codes, 5, 1, dup.codebookSizes).codebookUsage[0], 2 / 3);
});

test('dedup: colliding tuples get an extra level numbered 0..g-1; exact stats', () => {
  // Items: 0:(0,1) 1:(0,1) 2:(2,3) 3:(0,1) 4:(2,3) 5:(1,1), K = (4, 4).
  // Groups: {0,1,3} (size 3), {2,4} (size 2), {5}. Collision rate 5/6, max group 3.
  // Dedup codes by item index within the group: 0->0, 1->1, 3->2; 2->0, 4->1; 5->0.
  // Usage: level 1 uses {0,1,2} of 4 = 0.75; level 2 {1,3} of 4 = 0.5; dedup {0,1,2} of 3 = 1.
  const codes = Int32Array.from([0, 1, 0, 1, 2, 3, 0, 1, 2, 3, 1, 1]);
  const d = dedup(codes, 6, 2, [4, 4]);
  assert.equal(d.dedupLevel, true);
  assert.equal(d.levels, 3);
  assert.deepEqual(d.codebookSizes, [4, 4, 3]);
  assert.deepEqual(Array.from(d.codes), [0, 1, 0, 0, 1, 1, 2, 3, 0, 0, 1, 2, 2, 3, 1, 1, 1, 0]);
  assert.equal(d.collisionRate, 5 / 6);
  assert.equal(d.maxCollisionGroup, 3);
  assert.deepEqual(d.codebookUsage, [0.75, 0.5, 1]);
});

test('dedup without collisions returns the codes unchanged', () => {
  const codes = Int32Array.from([0, 1, 1, 0, 1, 1]);
  const d = dedup(codes, 3, 2, [2, 2]);
  assert.equal(d.dedupLevel, false);
  assert.equal(d.levels, 2);
  assert.deepEqual(d.codes, codes);
  assert.equal(d.collisionRate, 0);
  assert.equal(d.maxCollisionGroup, 1);
  assert.deepEqual(d.codebookUsage, [1, 1]);
});
