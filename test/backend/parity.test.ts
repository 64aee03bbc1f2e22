/**
 * Backend parity: on a tiny world with one seed, WebGPU and wasm compute the same SFT losses over
 * several steps, the same ranker steps (both encoders), the same RL step diagnostics and the same beam top-10.
 *
 * This test needs a WebGPU adapter and FAILS without one (it never skips): CI installs Mesa's
 * software Vulkan driver, lavapipe (`.ci/run`), which Dawn accepts as an adapter. Shapes are tiny
 * because lavapipe runs about 1 GFLOP/s.
 *
 * Tolerance: both backends compute in float32 but sum in different orders (tiled GPU reductions
 * against sequential wasm loops), so values agree to a few float32 ulps per operation, which
 * compounds over a forward and backward pass. Losses, probabilities and diagnostics must agree to
 * REL = 1e-4 relative (or ABS = 1e-5 absolute near zero); discrete results (sampled rollouts,
 * admission, the top-10 tuples) must be identical.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendChoice } from '../../src/backend.js';
import { validateConfig } from '../../src/config/load.js';
import { Catalog } from '../../src/data/sid/catalog.js';
import { generateSyntheticWorld } from '../../src/data/synthetic.js';
import { leaveOneOut } from '../../src/data/splits.js';
import { beamSearch, policyDecoder } from '../../src/model/decoding.js';
import { Policy, buildPrompts, buildSequences, disposePrompts, disposeSequences, sidLayout } from '../../src/model/policy.js';
import { Ranker } from '../../src/model/ranker.js';
import { Rng } from '../../src/rng.js';
import { AdamW } from '../../src/train/optimizer.js';
import { rankerArch } from '../../src/model/load.js';
import { rankerData, rankerStep } from '../../src/train/ranker.js';
import { rlPromptPool, rlStep, type RlPrompt } from '../../src/train/rl.js';
import { TINY_CODES_40x2 } from '../helpers/tiny.js';

const REL = 1e-4;
const ABS = 1e-5;

const config = validateConfig({
  data: { synthetic: { numItems: 40, numUsers: 30, numCategories: 4, minSeqLen: 5, maxSeqLen: 8 } },
  policy: { layers: 1, dim: 16, heads: 2, dropout: 0.1, maxHistory: 5 },
  ranker: { dim: 8, hidden: 8, maxHistory: 5 },
  // grpo+nll admits every sample, so the GRPO term is exercised; the gate's statistics are logged all the same.
  rl: { algorithm: 'grpo+nll', batchSize: 6, numGenerations: 4, beta: 0.1 },
  gate: { discriminability: { inBatchNegatives: 2 } },
});
const dataset = generateSyntheticWorld(config.data.synthetic);
const splits = leaveOneOut(dataset);
const codes = TINY_CODES_40x2;
const layout = sidLayout([8, 8]);

interface Figures {
  sftLosses: number[];
  sftGradNorms: number[];
  ranker: { loss: number; meanProbPos: number; meanProbNeg: number; gradNorm: number }[];
  rl: Record<string, number>[];
  beamCodes: number[];
  beamScores: number[];
}

/** Everything from one seed on one backend; every tensor made here is released. */
async function figures(backend: BackendChoice): Promise<Figures> {
  const info = await initBackend(backend).catch((e: Error) => {
    throw new Error(`${e.message}\nThis test needs a WebGPU adapter; without a GPU, install Mesa >= 25 lavapipe as .ci/run does (Debian: mesa-vulkan-drivers from bookworm-backports).`);
  });
  assert.equal(info.name, backend);
  const before = tf.memory().numTensors;
  const rng = new Rng(7);
  const policy = Policy.create(config.policy, layout, rng);
  const opt = new AdamW(policy.params, { weightDecay: 0.01, gradClip: 1, noDecay: Policy.noDecay });
  const out: Figures = { sftLosses: [], sftGradNorms: [], ranker: [], rl: [], beamCodes: [], beamScores: [] };
  try {
    // SFT: 4 AdamW steps (dropout on, masks from the seeded generator).
    const users = splits.train.map((s, u) => (s.length > 0 ? u : -1)).filter((u) => u >= 0);
    for (let step = 0; step < 4; step++) {
      const windows = users.slice(step * 6, step * 6 + 6).map((u) => splits.train[u].slice(-6));
      const batch = buildSequences(layout, codes, windows);
      const { value, grads } = tf.variableGrads(() => policy.sequenceLoss(batch, false, { rng }), [...policy.params.values()]);
      const stats = await opt.step(grads, 3e-3, value as tf.Scalar);
      tf.dispose([value, ...Object.values(grads)]);
      disposeSequences(batch);
      out.sftLosses.push(stats.loss!);
      out.sftGradNorms.push(stats.gradNorm);
    }

    // Ranker: 2 BCE + AdamW steps (pooling encoder), then 1 with the attention encoder.
    const data = rankerData(dataset, splits, config.ranker, new Rng(1));
    const ranker = Ranker.create(dataset.itemIds.length, rankerArch(config.ranker), new Rng(2));
    const rOpt = new AdamW(ranker.params, { weightDecay: 0.01, gradClip: 1 });
    const ref = Policy.create(config.policy, layout, new Rng(7));
    const rlOpt = new AdamW(policy.params, { weightDecay: 0, gradClip: 1 });
    try {
      const bRng = new Rng(3);
      for (let i = 0; i < 2; i++) out.ranker.push(await rankerStep(ranker, rOpt, data.train.next(bRng, 16), 1e-2));
      // The attention encoder's kernels too (one step; the pooling ranker above serves RL).
      const att = Ranker.create(dataset.itemIds.length, rankerArch({ ...config.ranker, encoder: 'attention' }), new Rng(2));
      const aOpt = new AdamW(att.params, { weightDecay: 0.01, gradClip: 1 });
      out.ranker.push(await rankerStep(att, aOpt, data.train.next(bRng, 16), 1e-2));
      att.dispose();
      aOpt.dispose();

      // RL: 2 GRPO+NLL steps (rollouts, ranker rewards, gate, update) from the SFT policy.
      const pool = rlPromptPool(splits.train);
      const prompts = (k: number): RlPrompt[] =>
        pool.slice(k * 6, k * 6 + 6).map(({ user, position }) => ({ user, history: splits.train[user].subarray(0, position), target: splits.train[user][position] }));
      const models = { policy, ref, ranker, catalog: new Catalog({ levels: 2, codebookSizes: [8, 8], codes }), optimizer: rlOpt };
      const sRng = new Rng(4);
      for (let k = 0; k < 2; k++) {
        const s = await rlStep(models, prompts(k), { config, dataset, codes, rng: sRng, lr: 1e-2, randomP: 0.5, lambda: 1 });
        out.rl.push(Object.fromEntries(Object.entries(s).filter(([, v]) => typeof v === 'number')) as Record<string, number>);
      }
    } finally {
      ranker.dispose();
      ref.dispose();
      rOpt.dispose();
      rlOpt.dispose();
    }

    // Beam search, width 10, over 8 test users, from the trained policy.
    const prompt = buildPrompts(layout, codes, splits.test.slice(0, 8).map((e) => e.history), config.policy.maxHistory);
    try {
      const r = await beamSearch(policyDecoder(policy), prompt, { beam: 10 });
      out.beamCodes = Array.from(r.codes);
      out.beamScores = Array.from(r.scores);
    } finally {
      disposePrompts(prompt);
    }
  } finally {
    policy.dispose();
    opt.dispose();
  }
  assert.equal(tf.memory().numTensors, before, `tensors leaked on ${backend}`);
  return out;
}

function close(got: number[], want: number[], what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  got.forEach((g, i) => {
    const w = want[i];
    const ok = Number.isNaN(w) ? Number.isNaN(g) : Math.abs(g - w) <= Math.max(ABS, REL * Math.abs(w));
    assert.ok(ok, `${what}[${i}]: webgpu ${g} vs wasm ${w} (tolerance ${REL} relative, ${ABS} absolute)`);
  });
}

/** Largest relative difference, for the log: how much of the tolerance is used. */
function worst(got: number[], want: number[]): number {
  return Math.max(0, ...got.map((g, i) => (Number.isFinite(want[i]) ? Math.abs(g - want[i]) / Math.max(Math.abs(want[i]), ABS / REL) : 0)));
}

test('webgpu and wasm agree on SFT, ranker, RL and beam search from one seed (needs a WebGPU adapter: lavapipe in CI)', async () => {
  const wasm = await figures('wasm');
  const gpu = await figures('webgpu');
  try {
    close(gpu.sftLosses, wasm.sftLosses, 'SFT loss');
    close(gpu.sftGradNorms, wasm.sftGradNorms, 'SFT grad norm');
    for (const k of ['loss', 'meanProbPos', 'meanProbNeg', 'gradNorm'] as const) {
      close(gpu.ranker.map((r) => r[k]), wasm.ranker.map((r) => r[k]), `ranker ${k}`);
    }
    assert.deepEqual(Object.keys(gpu.rl[0]).sort(), Object.keys(wasm.rl[0]).sort());
    for (const k of Object.keys(wasm.rl[0])) {
      close(gpu.rl.map((r) => r[k]), wasm.rl.map((r) => r[k]), `RL ${k}`);
    }
    // Rollouts are discrete: identical samples show up as identical rates.
    for (const k of ['admission', 'fracInvalid', 'fracZeroStd', 'rateHard', 'rateDisc']) {
      assert.deepEqual(gpu.rl.map((r) => r[k]), wasm.rl.map((r) => r[k]), `RL ${k} must be identical`);
    }
    assert.deepEqual(gpu.beamCodes, wasm.beamCodes, 'beam top-10 tuples');
    close(gpu.beamScores, wasm.beamScores, 'beam scores');
    // The world is not degenerate: the figures compared are informative.
    assert.ok(wasm.sftLosses.every((l) => l > 1 && l < 10));
    assert.ok(wasm.rl.every((r) => r.admission === 1 && r.grpo !== 0 && r.kl > 0), 'the GRPO and KL terms are exercised');
  } finally {
    const all = [
      worst(gpu.sftLosses, wasm.sftLosses),
      worst(gpu.sftGradNorms, wasm.sftGradNorms),
      ...(['loss', 'meanProbPos', 'meanProbNeg', 'gradNorm'] as const).map((k) => worst(gpu.ranker.map((r) => r[k]), wasm.ranker.map((r) => r[k]))),
      ...Object.keys(wasm.rl[0]).map((k) => worst(gpu.rl.map((r) => r[k]), wasm.rl.map((r) => r[k]))),
      worst(gpu.beamScores, wasm.beamScores),
    ];
    process.stdout.write(`# parity: largest relative difference webgpu vs wasm ${Math.max(...all).toExponential(2)} (tolerance ${REL})\n`);
  }
});
