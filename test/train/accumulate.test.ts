/**
 * Gradient accumulation (sft/ranker/rl.microBatchSize): one accumulated step equals one
 * full-batch step. The tolerance is float32 summation order: gradients within 1e-5 relative
 * (of the largest gradient entry), losses within 1e-6, and the weights after one AdamW step within
 * 1e-6 (AdamW with eps = 1, so the first step is ~g/(|g|+1) and proportional to the gradient:
 * with eps = 1e-8 it is ~sign(g), which turns 1e-9 float noise on a zero gradient into ±lr).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend.js';
import { validateConfig } from '../../src/config/load.js';
import { Catalog } from '../../src/data/sid/catalog.js';
import { leaveOneOut } from '../../src/data/splits.js';
import { generateSyntheticWorld } from '../../src/data/synthetic.js';
import { Policy, sidLayout } from '../../src/model/policy.js';
import { Ranker } from '../../src/model/ranker.js';
import { Rng } from '../../src/rng.js';
import { accumulatedGrads, microRanges } from '../../src/train/accumulate.js';
import { AdamW } from '../../src/train/optimizer.js';
import { rankerArch } from '../../src/model/load.js';
import { rankerData, rankerStep } from '../../src/train/ranker.js';
import { rlPromptPool, rlStep, type RlModels } from '../../src/train/rl.js';
import { sftStepGrads } from '../../src/train/sft.js';
import { TINY_CODES_40x2 } from '../helpers/tiny.js';

before(async () => {
  await initBackend((process.env.ADAGRPO_TEST_BACKEND as 'wasm' | 'cpu') ?? 'wasm');
});

const config = validateConfig({
  data: { synthetic: { numItems: 40, numUsers: 30, numCategories: 4, minSeqLen: 5, maxSeqLen: 9, impressionSize: 5 } },
  policy: { layers: 2, dim: 16, heads: 2, dropout: 0, maxHistory: 6 },
  ranker: { dim: 8, hidden: 8, maxHistory: 5 },
  rl: { algorithm: 'grpo+nll', batchSize: 7, numGenerations: 4, beta: 0.1 },
  gate: { discriminability: { inBatchNegatives: 2 } },
});
const world = generateSyntheticWorld(config.data.synthetic);
const splits = leaveOneOut(world);
const codes = TINY_CODES_40x2;
const layout = sidLayout([8, 8]);

/** Values by parameter name without the model instance's prefix (`policy3/h0.ln1.g` -> `h0.ln1.g`). */
const byName = (entries: [string, tf.Tensor][]) => new Map(entries.map(([n, v]) => [n.slice(n.indexOf('/') + 1), Float32Array.from(v.dataSync())]));
const read = (m: Map<string, tf.Variable>) => byName([...m]);

function assertClose(a: Map<string, Float32Array>, b: Map<string, Float32Array>, tol: number, what: string): void {
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  for (const [name, x] of a) {
    const y = b.get(name)!;
    for (let i = 0; i < x.length; i++) assert.ok(Math.abs(x[i] - y[i]) <= tol, `${what} ${name}[${i}]: ${x[i]} vs ${y[i]}`);
  }
}

test('microRanges covers the rows in order with passes of at most `micro` rows; 0 or >= n is one pass', () => {
  assert.deepEqual(microRanges(7, 3), [[0, 3], [3, 6], [6, 7]]);
  assert.deepEqual(microRanges(7, 0), [[0, 7]]);
  assert.deepEqual(microRanges(7, 9), [[0, 7]]);
  assert.deepEqual(microRanges(6, 2), [[0, 2], [2, 4], [4, 6]]);
});

test('accumulatedGrads: the sum of weighted pass losses has the sum of their gradients (hand-computed)', () => {
  const w = tf.variable(tf.tensor1d([1, 2]), true, 'acc/w');
  const x = [tf.tensor1d([3, 4]), tf.tensor1d([5, 6])];
  const before = tf.memory().numTensors;
  // loss = Σ_k 0.5·(w·x_k) ⇒ value 0.5·(11 + 17) = 14, grad 0.5·(x_0 + x_1) = [4, 5].
  const inputs: tf.Tensor[] = [];
  const r = accumulatedGrads([w], 2, (k) => {
    const xk = x[k].clone(); // a pass's inputs are freed after its backward pass
    inputs.push(xk);
    return { inputs: [xk], loss: () => ({ loss: tf.mul(tf.sum(tf.mul(w, xk)), 0.5) as tf.Scalar, aux: [tf.scalar(k + 1)] }) };
  });
  assert.ok(inputs.every((t) => t.isDisposed));
  assert.equal(r.value.dataSync()[0], 14);
  assert.deepEqual([...r.grads['acc/w'].dataSync()], [4, 5]);
  assert.equal(r.aux[0].dataSync()[0], 3);
  tf.dispose([r.value, ...r.aux, ...Object.values(r.grads)]);
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([w, ...x]);
});

for (const lastOnly of [false, true]) {
  test(`SFT (targets ${lastOnly ? 'last' : 'all'}): 3 passes of <= 2 windows give the full batch's loss, gradients and AdamW step`, async () => {
    // Windows of different lengths, so each pass pads differently and weights differ (2+5+3+6+4 targets).
    const windows = [2, 5, 3, 6, 4].map((n, b) => splits.train[b].length >= n ? splits.train[b].slice(0, n) : Int32Array.from({ length: n }, (_, j) => (b * 7 + j * 3) % 40));
    const run = async (micro: number) => {
      const policy = Policy.create(config.policy, layout, new Rng(5));
      const opt = new AdamW(policy.params, { weightDecay: 0.01, gradClip: 0, eps: 1 });
      const count = tf.memory().numTensors;
      const { value, grads, realTokens } = sftStepGrads(policy, codes, windows, lastOnly, micro, new Rng(6));
      const g = byName(Object.entries(grads));
      const loss = value.dataSync()[0];
      await opt.step(grads, 1e-2);
      tf.dispose([value, ...Object.values(grads)]);
      assert.equal(tf.memory().numTensors, count, 'tensors leaked');
      const w = read(policy.params);
      policy.dispose();
      opt.dispose();
      return { loss, g, w, realTokens };
    };
    const full = await run(0);
    const acc = await run(2);
    assert.ok(Math.abs(full.loss - acc.loss) <= 1e-6, `${full.loss} vs ${acc.loss}`);
    assert.equal(acc.realTokens, full.realTokens);
    const gMax = Math.max(...[...full.g.values()].map((a) => Math.max(...a.map(Math.abs))));
    assertClose(acc.g, full.g, 1e-5 * gMax, 'gradient');
    assertClose(acc.w, full.w, 1e-6, 'weight');
  });
}

test('ranker: 3 passes of <= 5 rows give the full batch\'s loss, diagnostics and AdamW step', async () => {
  const d = rankerData(world, splits, config.ranker, new Rng(1));
  const batch = d.train.next(new Rng(3), 13);
  const run = async (micro: number) => {
    const ranker = Ranker.create(world.itemIds.length, rankerArch(config.ranker), new Rng(2));
    const opt = new AdamW(ranker.params, { weightDecay: 0.01, gradClip: 0, eps: 1 });
    const count = tf.memory().numTensors;
    const r = await rankerStep(ranker, opt, batch, 1e-2, micro);
    assert.equal(tf.memory().numTensors, count, 'tensors leaked');
    const w = read(ranker.params);
    ranker.dispose();
    opt.dispose();
    return { r, w };
  };
  const full = await run(0);
  const acc = await run(5);
  for (const k of ['loss', 'meanProbPos', 'meanProbNeg', 'gradNorm'] as const) {
    assert.ok(Math.abs(full.r[k] - acc.r[k]) <= 1e-6 * Math.max(1, Math.abs(full.r[k])), `${k}: ${full.r[k]} vs ${acc.r[k]}`);
  }
  assertClose(acc.w, full.w, 1e-6, 'weight');
});

test('RL: the update in 3 passes of <= 3 prompts gives the full batch\'s loss, diagnostics and weights', async () => {
  const prompts = rlPromptPool(splits.train)
    .slice(0, 7)
    .map(({ user, position }) => ({ user, history: splits.train[user].subarray(0, position), target: splits.train[user][position] }));
  const run = async (micro: number) => {
    const rng = new Rng(4);
    const policy = Policy.create(config.policy, layout, rng);
    const m: RlModels = {
      policy,
      ref: Policy.create(config.policy, layout, new Rng(4)),
      ranker: Ranker.create(40, rankerArch(config.ranker), rng, false),
      catalog: new Catalog({ levels: 2, codebookSizes: [8, 8], codes }),
      optimizer: new AdamW(policy.params, { weightDecay: 0, gradClip: 0, eps: 1 }),
    };
    const c = validateConfig({ ...JSON.parse(JSON.stringify(config)), rl: { ...config.rl, microBatchSize: micro, ppoEpochs: 2 } });
    const count = tf.memory().numTensors;
    const s = await rlStep(m, prompts, { config: c, dataset: world, codes, rng: new Rng(9), lr: 1e-2, randomP: 0.5, lambda: 1 });
    assert.equal(tf.memory().numTensors, count, 'tensors leaked');
    const w = read(m.policy.params);
    for (const x of [m.policy, m.ref, m.ranker]) x.dispose();
    m.optimizer.dispose();
    return { s, w };
  };
  const full = await run(0);
  const acc = await run(3);
  // ppoEpochs 2: the second epoch's ratio differs from 1, so the clipped branch is exercised too.
  for (const k of ['loss', 'nll', 'grpo', 'kl', 'clipFrac', 'gradNorm', 'admission', 'rewardMean'] as const) {
    assert.ok(Math.abs(full.s[k] - acc.s[k]) <= 1e-5 * Math.max(1, Math.abs(full.s[k])), `${k}: ${full.s[k]} vs ${acc.s[k]}`);
  }
  assertClose(acc.w, full.w, 1e-6, 'weight');
});
