import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend.js';
import { validateConfig } from '../../src/config/load.js';
import { Rng } from '../../src/rng.js';
import { Policy, buildPrompts, buildSequences, disposePrompts, disposeSequences, sidLayout, type PromptBatch } from '../../src/model/policy.js';

before(async () => {
  await initBackend((process.env.ADAGRPO_TEST_BACKEND as 'wasm' | 'cpu') ?? 'wasm');
});

const policyConfig = (over: Record<string, unknown> = {}) =>
  validateConfig({ policy: { layers: 2, dim: 16, heads: 2, dropout: 0, maxHistory: 4, ...over } }).policy;

/** 6 items with 3-level tuples over codebooks [5, 4, 3]. */
const layout3 = sidLayout([5, 4, 3]);
const codes3 = Int32Array.from([0, 1, 2, 1, 0, 0, 4, 3, 1, 2, 2, 2, 0, 1, 0, 3, 3, 1]);

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

test('layout follows the vocabulary: PAD 0, BOS 1, SEP 2, then level by level', () => {
  assert.deepEqual(layout3.levelOffset, [3, 8, 12]);
  assert.equal(layout3.vocabSize, 15);
});

test('NLL of a policy whose logits are its head bias, by hand', () => {
  // Every weight zero except head.b: all hidden states are LayerNorm(.) with gain 0 and bias 0 =
  // 0, so the logits of level l are head.b's level-l slice whatever the context.
  // Codebooks [2, 3]. Level 0 logits [0, ln 3] -> p = [1/4, 3/4]; level 1 logits [0, 0, ln 2] ->
  // p = [1/4, 1/4, 1/2].
  //   target (1, 2): NLL = -(ln 3/4 + ln 1/2)/2 = ln(8/3)/2 = 0.4904146
  //   target (0, 0): NLL = -(ln 1/4 + ln 1/4)/2 = ln 4    = 1.3862944
  const layout = sidLayout([2, 3]);
  const cfg = policyConfig({ tieEmbeddings: false, layers: 1 });
  const pol = Policy.create(cfg, layout, new Rng(1));
  for (const [n, v] of pol.params) v.assign(tf.zerosLike(v));
  pol.params.get('head.b')!.assign(tf.tensor1d([0, Math.log(3), 0, 0, Math.log(2)]));
  const codes = Int32Array.from([1, 2, 0, 0]); // item 0 = (1, 2), item 1 = (0, 0)
  const prompt = buildPrompts(layout, codes, [[1], []], 4);
  const targets = tf.tensor2d([1, 2, 0, 0], [2, 2], 'int32');
  const nll = pol.nll(prompt, targets);
  close(nll.dataSync(), [Math.log(8 / 3) / 2, Math.log(4)], 1e-6, 'nll');
  // The training loss over windows [1, 0] (both items are targets) and [0]: mean over the
  // 3 items x 2 tokens = (2*0.4904146 + 1.3862944) / 3 ... per item; tokens weigh equally:
  // (ln(8/3) + ln(8/3) + 2 ln 4) / 6 = (0.9808293*2 + 2.7725887) / 6 = 0.7890412
  const seq = buildSequences(layout, codes, [[1, 0], [0]]);
  const loss = pol.sequenceLoss(seq, false);
  close(loss.dataSync(), [(2 * Math.log(8 / 3) + 2 * Math.log(4)) / 6], 1e-6, 'sequenceLoss');
  // last only: the last items are 0 and 0 -> ln(8/3)/2
  const lossLast = pol.sequenceLoss(seq, true);
  close(lossLast.dataSync(), [Math.log(8 / 3) / 2], 1e-6, 'sequenceLoss last');
  // Label smoothing ε = 0.1: each token's loss is 0.9·(−log p_y) + 0.1·(−mean_k log p_k) over its
  // level's codes. Mean log-probabilities: level 0 (ln 1/4 + ln 3/4)/2 = −0.8369882, level 1
  // (2 ln 1/4 + ln 1/2)/3 = −1.1552453. Per token:
  //   item 0 (1, 2): 0.9·0.2876821 + 0.1·0.8369882 = 0.3426127; 0.9·0.6931472 + 0.1·1.1552453 = 0.7393570
  //   item 1 (0, 0): 0.9·1.3862944 + 0.1·0.8369882 = 1.3313637; 0.9·1.3862944 + 0.1·1.1552453 = 1.3631895
  // Item 0 is a target twice, item 1 once: (2·(0.3426127 + 0.7393570) + 1.3313637 + 1.3631895) / 6 = 0.8097488.
  const smoothed = pol.sequenceLoss(seq, false, { labelSmoothing: 0.1 });
  const tok = (lp: number, meanLp: number) => -(0.9 * lp + 0.1 * meanLp);
  const m0 = (Math.log(1 / 4) + Math.log(3 / 4)) / 2;
  const m1 = (2 * Math.log(1 / 4) + Math.log(1 / 2)) / 3;
  const want = (2 * (tok(Math.log(3 / 4), m0) + tok(Math.log(1 / 2), m1)) + tok(Math.log(1 / 4), m0) + tok(Math.log(1 / 4), m1)) / 6;
  close([want], [0.8097488], 1e-6, 'hand arithmetic');
  close(smoothed.dataSync(), [want], 1e-6, 'sequenceLoss, label smoothing 0.1');
  tf.dispose([nll, targets, loss, lossLast, smoothed]);
  disposePrompts(prompt);
  disposeSequences(seq);
  pol.dispose();
});

/** Naive reference: run the full causal pass over prompt + completion for every completion. */
function naiveScores(pol: Policy, prompt: PromptBatch, comps: number[][][]): { lp: number[]; ent: number[] } {
  const L = pol.layout.levels;
  const tokens = prompt.tokens.arraySync();
  const positions = prompt.positions.arraySync();
  const bias = prompt.keyBias.arraySync();
  const lens = prompt.promptLen.arraySync();
  const lp: number[] = [];
  const ent: number[] = [];
  comps.forEach((rows, b) => {
    for (const c of rows) {
      tf.tidy(() => {
        const tok = [...tokens[b], ...c.slice(0, L - 1).map((x, l) => pol.layout.levelOffset[l] + x)];
        const pos = [...positions[b], ...c.slice(0, L - 1).map((_, l) => lens[b] + l)];
        const kb = [...bias[b][0][0], ...c.slice(0, L - 1).map(() => 0)];
        const T = tok.length;
        const { hidden } = pol.forward(tf.tensor2d([tok], [1, T], 'int32'), tf.tensor2d([pos], [1, T], 'int32'), tf.tensor4d([[[kb]]]));
        for (let l = 0; l < L; l++) {
          const h = tf.slice(hidden, [0, prompt.length - 1 + l, 0], [1, 1, pol.dim]).reshape([1, pol.dim]);
          const lsm = tf.logSoftmax(pol.levelLogits(h, l)).dataSync();
          lp.push(lsm[c[l]]);
          ent.push(-Array.from(lsm).reduce((s, x) => s + Math.exp(x) * x, 0));
        }
      });
    }
  });
  return { lp, ent };
}

for (const tie of [true, false]) {
  test(`sequenceLogProbs with a shared prompt equals a naive full pass per completion (tied=${tie})`, () => {
    const pol = Policy.create(policyConfig({ tieEmbeddings: tie }), layout3, new Rng(7));
    // Histories of different lengths (left padding), one longer than maxHistory (truncation), one empty.
    const prompt = buildPrompts(layout3, codes3, [[0, 1, 2], [], [5, 4, 3, 2, 1, 0]], 4);
    const comps = [
      [[0, 1, 2], [4, 3, 1], [0, 1, 0], [2, 0, 2]],
      [[1, 0, 0], [1, 0, 0], [3, 3, 1], [4, 0, 2]],
      [[2, 2, 2], [0, 0, 0], [1, 1, 1], [3, 2, 0]],
    ];
    const c = tf.tensor3d(comps, [3, 4, 3], 'int32');
    const { logProbs, entropies } = pol.sequenceLogProbs(prompt, c);
    assert.deepEqual(logProbs.shape, [3, 4, 3]);
    const naive = naiveScores(pol, prompt, comps);
    close(logProbs.dataSync(), naive.lp, 1e-5, 'logProbs');
    close(entropies.dataSync(), naive.ent, 1e-5, 'entropies');
    tf.dispose([c, logProbs, entropies]);
    disposePrompts(prompt);
    pol.dispose();
  });
}

test('sequenceLoss over every item slot equals the mean NLL of each item given its prefix', () => {
  const pol = Policy.create(policyConfig(), layout3, new Rng(3));
  const windows = [[0, 1, 2, 3], [4, 5]];
  const seq = buildSequences(layout3, codes3, windows);
  const loss = pol.sequenceLoss(seq, false).dataSync()[0];
  // Reference: one prompt per (window, k) = items before k, target = item k; tokens weigh equally.
  const hist: number[][] = [];
  const tgt: number[] = [];
  for (const w of windows) for (let k = 0; k < w.length; k++) {
    hist.push(w.slice(0, k));
    tgt.push(...codes3.slice(w[k] * 3, w[k] * 3 + 3));
  }
  const prompt = buildPrompts(layout3, codes3, hist, 4);
  const targets = tf.tensor2d(tgt, [hist.length, 3], 'int32');
  const nll = pol.nll(prompt, targets);
  const ref = Array.from(nll.dataSync()).reduce((a, b) => a + b, 0) / hist.length;
  assert.ok(Math.abs(loss - ref) < 1e-5, `${loss} vs ${ref}`);
  tf.dispose([nll, targets]);
  disposePrompts(prompt);
  disposeSequences(seq);
  pol.dispose();
});

test('gradients flow through the shared-prompt path and the tensor count stays flat', () => {
  const pol = Policy.create(policyConfig({ dropout: 0.1 }), layout3, new Rng(5));
  const prompt = buildPrompts(layout3, codes3, [[0, 1], [2]], 4);
  const comps = tf.tensor3d([[[0, 1, 2], [4, 3, 1]], [[1, 0, 0], [2, 2, 2]]], [2, 2, 3], 'int32');
  const vars = [...pol.params.values()];
  const rng = new Rng(11);
  const once = () => {
    const { value, grads } = tf.variableGrads(() => tf.neg(tf.mean(pol.sequenceLogProbs(prompt, comps, { rng }).logProbs)) as tf.Scalar, vars);
    const norms = tf.tidy(() => Object.values(grads).map((g) => tf.sum(tf.abs(g)).dataSync()[0]));
    tf.dispose([value, ...Object.values(grads)]);
    return norms;
  };
  const norms = once();
  assert.equal(norms.length, vars.length);
  assert.ok(norms.every((n) => Number.isFinite(n)));
  assert.ok(norms.filter((n) => n > 0).length >= vars.length - 1, 'every weight gets a gradient');
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) once();
  assert.equal(tf.memory().numTensors, before);
  tf.dispose(comps);
  disposePrompts(prompt);
  pol.dispose();
});

test('fromTensors refuses weights that do not fit the config', () => {
  const pol = Policy.create(policyConfig(), layout3, new Rng(1));
  const tensors = new Map<string, tf.Tensor>(pol.params);
  assert.throws(() => Policy.fromTensors(policyConfig({ dim: 32 }), layout3, tensors), /does not match the policy config/);
  const copy = Policy.fromTensors(policyConfig(), layout3, tensors);
  assert.equal(copy.numParams(), pol.numParams());
  copy.dispose();
  pol.dispose();
});
