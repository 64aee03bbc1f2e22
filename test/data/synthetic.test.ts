import { test } from 'node:test';
import assert from 'node:assert/strict';
import { syntheticSchema, type SyntheticConfig } from '../../src/config/schema.js';
import { FRESH_RELEASE_FROM, generateSyntheticWorld, stepTime, trueUtility, utilityRow, worldTruth } from '../../src/data/synthetic.js';
import type { Dataset, SyntheticTruth } from '../../src/data/types.js';
import { UserError } from '../../src/errors.js';

const small = (over: Partial<SyntheticConfig> = {}): SyntheticConfig =>
  syntheticSchema.parse({ numItems: 200, numUsers: 400, numCategories: 8, seed: 1, ...over });

/** Share of fresh items among train interactions, test targets, and shown impression slots. */
function freshShares(ds: Dataset) {
  const t = ds.truth!;
  let train = 0;
  let trainFresh = 0;
  let testFresh = 0;
  for (const s of ds.sequences) {
    for (let j = 0; j < s.length - 2; j++) {
      train++;
      trainFresh += t.itemFresh[s[j]];
    }
    testFresh += t.itemFresh[s[s.length - 1]];
  }
  let shown = 0;
  let shownFresh = 0;
  for (const imp of t.impressions) for (const i of imp.items) (shown++, (shownFresh += t.itemFresh[i]));
  return { train: trainFresh / train, test: testFresh / ds.sequences.length, shown: shownFresh / shown };
}

test('trueUtility on a hand-made 2-item world', () => {
  // dim 2, items e1 and e2, user (0.5, 0.5), popularity (0.75, 0.25), a = 2, b = 1, c = 1:
  //   U(u, none, 0) = 2*0.5 + log(2*0.75)           = 1 + log 1.5 = 1.4054651
  //   U(u, last 1, 0) = 1 + 1*(e2.e1 = 0) + log 1.5 = 1.4054651
  //   U(u, last 1, 1) = 2*0.5 + 1*(e2.e2 = 1) + log(2*0.25) = 2 - log 2 = 1.3068528
  const truth: SyntheticTruth = {
    dim: 2,
    itemVectors: Float32Array.from([1, 0, 0, 1]),
    itemCategory: Int32Array.from([0, 1]),
    itemPopularity: Float64Array.from([0.75, 0.25]),
    itemFresh: Uint8Array.from([0, 0]),
    userVectors: Float32Array.from([0.5, 0.5]),
    a: 2,
    b: 1,
    c: 1,
    impressions: [],
  };
  assert.ok(Math.abs(trueUtility(truth, 0, -1, 0) - 1.4054651) < 1e-7);
  assert.ok(Math.abs(trueUtility(truth, 0, 1, 0) - 1.4054651) < 1e-7);
  assert.ok(Math.abs(trueUtility(truth, 0, 1, 1) - 1.3068528) < 1e-7);
  assert.deepEqual(Array.from(utilityRow(truth, 0, 1)), [trueUtility(truth, 0, 1, 0), trueUtility(truth, 0, 1, 1)]);
});

test('the same seed gives the same world, another seed another', () => {
  const a = generateSyntheticWorld(small());
  const b = generateSyntheticWorld(small());
  const c = generateSyntheticWorld(small({ seed: 2 }));
  assert.deepStrictEqual(a.sequences, b.sequences);
  assert.deepStrictEqual(a.truth!.impressions, b.truth!.impressions);
  assert.deepStrictEqual(a.truth!.itemVectors, b.truth!.itemVectors);
  assert.notDeepStrictEqual(a.sequences, c.sequences);
  assert.notDeepStrictEqual(a.truth!.itemVectors, c.truth!.itemVectors);
});

test('world structure: lengths, no repeats, fresh items only after release, impressions at train steps only', () => {
  const cfg = small();
  const ds = generateSyntheticWorld(cfg);
  const t = worldTruth(ds)!;
  assert.equal(ds.sequences.length, 400);
  assert.equal(ds.itemIds.length, 200);
  // freshShare 0.15 of 200 items = 30 fresh, released in [0.7, 0.85).
  assert.equal(t.itemFresh.reduce((s, x) => s + x, 0), 30);
  let expected = 0;
  ds.sequences.forEach((s, u) => {
    assert.ok(s.length >= cfg.minSeqLen && s.length <= cfg.maxSeqLen);
    assert.equal(new Set(s).size, s.length, 'no item repeats within a sequence');
    s.forEach((i, j) => {
      assert.ok(t.itemRelease[i] <= stepTime(t.userStart[u], j, s.length));
      if (t.itemFresh[i]) assert.ok(stepTime(t.userStart[u], j, s.length) >= FRESH_RELEASE_FROM);
    });
    expected += s.length - 2;
  });
  // One impression per training step (never the last two), S = 10 distinct items, the consumed one clicked.
  assert.equal(t.impressions.length, expected);
  for (const imp of t.impressions) {
    const seq = ds.sequences[imp.user];
    assert.ok(imp.position <= seq.length - 3);
    assert.equal(imp.items.length, 10);
    assert.equal(new Set(imp.items).size, 10);
    const slot = imp.items.indexOf(seq[imp.position]);
    assert.ok(slot >= 0);
    assert.equal(imp.clicks[slot], 1);
    for (const i of imp.items) assert.ok(!seq.subarray(0, imp.position).includes(i), 'consumed items are not shown again');
  }
});

test('fresh items: rarer in training than among test targets, and barely exposed unless exposureAlpha = 0', () => {
  const biased = freshShares(generateSyntheticWorld(small()));
  const uniform = freshShares(generateSyntheticWorld(small({ exposureAlpha: 0 })));
  // 15% of the catalog is fresh; measured here: train ~3%, test ~14%.
  assert.ok(biased.test > 3 * biased.train, `test ${biased.test} vs train ${biased.train}`);
  assert.ok(biased.test > 0.08 && biased.train < 0.06);
  // Shown slots on fresh items: ~0.5% with alpha 1 (mostly the consumed item itself), several
  // times more with a uniform logging policy.
  assert.ok(biased.shown < 0.015, `fresh shown share ${biased.shown}`);
  assert.ok(uniform.shown > 4 * biased.shown, `uniform ${uniform.shown} vs biased ${biased.shown}`);
  // Sequences do not depend on the logging policy.
  assert.equal(uniform.train, biased.train);
});

test('the default world has 2000 users and 1000 items (its generation time is in npm run bench)', () => {
  const ds = generateSyntheticWorld(syntheticSchema.parse({}));
  assert.equal(ds.sequences.length, 2000);
  assert.equal(ds.itemIds.length, 1000);
});

test('impossible configs are UserErrors naming the key', () => {
  assert.throws(() => generateSyntheticWorld(small({ numItems: 20, maxSeqLen: 20 })), (e: unknown) => e instanceof UserError && /maxSeqLen/.test(e.message));
  assert.throws(() => generateSyntheticWorld(small({ minSeqLen: 9, maxSeqLen: 5 })), /data\.synthetic\.minSeqLen/);
});
