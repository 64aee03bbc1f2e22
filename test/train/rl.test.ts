/**
 * The RL step on a tiny world: no tensor leaks, pi_ref never moves, `nll` makes exactly the SFT
 * update, the logged diagnostics are consistent, and the gate precision is reported on the
 * synthetic world.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend.js';
import { validateConfig } from '../../src/config/load.js';
import { Catalog } from '../../src/data/sid/catalog.js';
import { generateSyntheticWorld } from '../../src/data/synthetic.js';
import { leaveOneOut } from '../../src/data/splits.js';
import { Policy, buildSequences, disposeSequences, sidLayout } from '../../src/model/policy.js';
import { Ranker } from '../../src/model/ranker.js';
import { Rng } from '../../src/rng.js';
import { AdamW } from '../../src/train/optimizer.js';
import { rlPromptPool, rlStep, type RlModels, type RlPrompt } from '../../src/train/rl.js';
import { rankerArch } from '../../src/model/load.js';
import { rankerReliability } from '../../src/rl/reliability.js';
import { TINY_CODES_40x2 } from '../helpers/tiny.js';

const config = validateConfig({
  data: { synthetic: { numItems: 40, numUsers: 30, numCategories: 4, minSeqLen: 5, maxSeqLen: 8 } },
  policy: { layers: 1, dim: 16, heads: 2, dropout: 0, maxHistory: 5 },
  ranker: { dim: 8, hidden: 8, maxHistory: 5 },
  rl: { algorithm: 'adagrpo', batchSize: 6, numGenerations: 4, beta: 0.1 },
  gate: { discriminability: { inBatchNegatives: 2 } },
});
const dataset = generateSyntheticWorld(config.data.synthetic);
const splits = leaveOneOut(dataset);
const codes = TINY_CODES_40x2;
const sids = { levels: 2, codebookSizes: [8, 8], codes };
const layout = sidLayout([8, 8]);

/** eps = 1: the first Adam step is ~g/(|g|+1), proportional to the gradient, so two updates can be compared at 1e-6 (with eps = 1e-8 it is ~sign(g), which turns 1e-9 float noise into ±lr). */
function models(seed: number, eps = 1e-8): RlModels {
  const rng = new Rng(seed);
  const policy = Policy.create(config.policy, layout, rng);
  const ref = Policy.create(config.policy, layout, new Rng(seed));
  return {
    policy,
    ref,
    ranker: Ranker.create(40, rankerArch(config.ranker), rng, false),
    catalog: new Catalog(sids),
    optimizer: new AdamW(policy.params, { weightDecay: 0, gradClip: 0, eps }),
  };
}

function dispose(m: RlModels): void {
  m.policy.dispose();
  m.ref.dispose();
  m.ranker.dispose();
  m.optimizer.dispose();
}

function prompts(): RlPrompt[] {
  return rlPromptPool(splits.train)
    .slice(0, 6)
    .map(({ user, position }) => ({ user, history: splits.train[user].subarray(0, position), target: splits.train[user][position] }));
}

const snapshot = (p: Policy) => new Map([...p.params].map(([n, v]) => [n, Array.from(v.dataSync())]));

test('rlStep: tensors do not leak, the reference never changes, diagnostics are consistent', async () => {
  await initBackend('auto');
  const m = models(1);
  const refBefore = snapshot(m.ref);
  const before = tf.memory().numTensors;
  const rng = new Rng(2);
  let stats;
  for (let i = 0; i < 3; i++) {
    stats = await rlStep(m, prompts(), { config, dataset, codes, rng, lr: 1e-2, randomP: 0.5, lambda: config.rl.lambda });
  }
  assert.equal(tf.memory().numTensors, before, 'tensor count after 3 steps');
  assert.deepEqual(snapshot(m.ref), refBefore, 'pi_ref moved');
  const s = stats!;
  for (const k of ['admission', 'rateHard', 'rateDisc', 'overlap', 'fracInvalid', 'fracZeroStd', 'clipFrac'] as const) {
    assert.ok(s[k] >= 0 && s[k] <= 1, `${k} = ${s[k]}`);
  }
  // AdaGRPO admits exactly the samples that are hard AND discriminable.
  assert.equal(s.admission, s.overlap);
  assert.ok(Math.abs(s.effectiveRlWeight - config.rl.lambda * s.admission) < 1e-12);
  assert.ok(s.kl >= 0);
  assert.ok(Number.isFinite(s.loss) && Number.isFinite(s.nll));
  // The synthetic world's truth makes the gate's precision measurable.
  assert.ok('reliabilityAdmitted' in s && 'reliabilityRejected' in s);
  dispose(m);
});

test('the nll algorithm makes the same update as the SFT loss on the same targets', async () => {
  await initBackend('auto');
  const nllConfig = validateConfig({ ...JSON.parse(JSON.stringify(config)), rl: { ...config.rl, algorithm: 'nll' } });
  const a = models(3, 1);
  const b = models(3, 1);
  const ps = prompts();
  await rlStep(a, ps, { config: nllConfig, dataset, codes, rng: new Rng(4), lr: 1e-2, randomP: 0, lambda: 1 });
  // SFT on the same (history, target) windows, last item only: mean NLL per item token.
  const windows = ps.map((p) => Int32Array.from([...p.history.slice(-config.policy.maxHistory), p.target]));
  const batch = buildSequences(layout, codes, windows);
  const { grads, value } = tf.variableGrads(() => b.policy.sequenceLoss(batch, true), [...b.policy.params.values()]);
  await b.optimizer.step(grads, 1e-2);
  tf.dispose([...Object.values(grads), value]);
  disposeSequences(batch);
  for (const [n, v] of a.policy.params) {
    const x = v.dataSync();
    const y = b.policy.params.get(n)!.dataSync();
    for (let i = 0; i < x.length; i++) assert.ok(Math.abs(x[i] - y[i]) < 1e-6, `${n}[${i}]: ${x[i]} vs ${y[i]}`);
  }
  dispose(a);
  dispose(b);
});

test('ranker reliability is the share of candidate pairs ordered as the truth orders them', async () => {
  // Scores [3, 1, 2] vs utilities [0.9, 0.1, 0.5]: pairs (0,1) agree, (0,2) agree, (1,2) agree -> 1.
  assert.equal(rankerReliability([3, 1, 2], [0.9, 0.1, 0.5]), 1);
  // Swap one: scores [3, 2, 1]: (1,2) disagrees -> 2/3. A score tie counts one half.
  assert.ok(Math.abs(rankerReliability([3, 2, 1], [0.9, 0.1, 0.5]) - 2 / 3) < 1e-12);
  assert.ok(Math.abs(rankerReliability([3, 2, 2], [0.9, 0.1, 0.5]) - 2.5 / 3) < 1e-12);
  assert.ok(Number.isNaN(rankerReliability([1], [1])));
});

test('rl.constrained: no rollout is outside the catalog, unconstrained ones are; zero-std groups are logged either way', async () => {
  await initBackend('auto');
  const constrained = validateConfig({ ...JSON.parse(JSON.stringify(config)), rl: { ...config.rl, constrained: true } });
  const invalid: Record<string, number> = {};
  for (const [name, cfg] of [['constrained', constrained], ['unconstrained', config]] as const) {
    const m = models(3);
    const rng = new Rng(4);
    let sum = 0;
    for (let i = 0; i < 3; i++) {
      const s = await rlStep(m, prompts(), { config: cfg, dataset, codes, rng, lr: 1e-2, randomP: 0.5, lambda: cfg.rl.lambda });
      sum += s.fracInvalid;
      assert.ok(s.fracZeroStd >= 0 && s.fracZeroStd <= 1, `${name}: fracZeroStd ${s.fracZeroStd}`);
    }
    invalid[name] = sum;
    dispose(m);
  }
  // 24 of the 64 tuples are no item: an untrained policy samples some of them, the trie none.
  assert.equal(invalid.constrained, 0);
  assert.ok(invalid.unconstrained > 0, `unconstrained invalid share ${invalid.unconstrained}`);
});
