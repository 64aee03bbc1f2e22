/**
 * The ranker stage: BCE on a hand-computed case, the two kinds of training data, no tensor
 * leaks over repeated steps, checkpoints with best/final pointers, Ctrl-C + resume reaching the
 * same weights as an uninterrupted run, loading a trained ranker.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend.js';
import { validateConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { silentProgress } from '../../src/progress.js';
import { UserError, InterruptedError, NonFiniteLossError } from '../../src/errors.js';
import { leaveOneOut } from '../../src/data/splits.js';
import { generateSyntheticWorld } from '../../src/data/synthetic.js';
import type { Dataset } from '../../src/data/types.js';
import { Ranker } from '../../src/model/ranker.js';
import { Rng } from '../../src/rng.js';
import { type StageContext } from '../../src/train/context.js';
import { AdamW } from '../../src/train/optimizer.js';
import { bceWithLogits, exposureWeights, rankerData, rankerStep, trainingPositives, trainRanker } from '../../src/train/ranker.js';
import { tmpDir } from '../helpers/tmp.js';
import type { PreparedInputs } from '../../src/data/inputs.js';
import { loadRanker, rankerArch } from '../../src/model/load.js';

const close = (a: number, b: number, tol = 1e-5) => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b}`);

const config = validateConfig({
  seed: 3,
  data: { synthetic: { numItems: 40, numUsers: 30, numCategories: 4, minSeqLen: 5, maxSeqLen: 8, impressionSize: 5 } },
  ranker: { dim: 8, hidden: 8, maxHistory: 5, steps: 30, batchSize: 16, warmupSteps: 5, checkpointEvery: 10 },
  eval: { every: 10, batchSize: 32 },
});
const world = generateSyntheticWorld(config.data.synthetic);
const worldSplits = leaveOneOut(world);

/** The same sequences as a real log: no truth, no impressions. */
const realLog: Dataset = { ...world, source: 'sequences-json', truth: null };

test('BCE with logits on a hand-computed case, and stable at extreme logits', async () => {
  await initBackend('wasm');
  // logits [[0, 2], [-1, 3]], labels [[1, 0], [0, 1]]. Per pair softplus(z) - z*y:
  // ln 2 = .693147, softplus(2) = 2.126928, softplus(-1) = .313262, softplus(-3) = .048587;
  // mean = 3.181924 / 4 = .795481. Mean p on positives: (sigmoid 0 + sigmoid 3)/2 = (.5 + .952574)/2;
  // on negatives: (sigmoid 2 + sigmoid -1)/2 = (.880797 + .268941)/2.
  const z = tf.tensor2d([0, 2, -1, 3], [2, 2]);
  const y = tf.tensor2d([1, 0, 0, 1], [2, 2]);
  const out = bceWithLogits(z, y);
  close(out.loss.dataSync()[0], 0.795481);
  close(out.meanProbPos.dataSync()[0], 0.726287);
  close(out.meanProbNeg.dataSync()[0], 0.574869);
  // logit 100 with label 0 costs 100; logit -100 with label 0 costs ~0: no overflow.
  const big = bceWithLogits(tf.tensor2d([100, -100], [1, 2]), tf.tensor2d([0, 0], [1, 2]));
  close(big.loss.dataSync()[0], 50, 1e-4);
  tf.dispose([z, y, out.loss, out.meanProbPos, out.meanProbNeg, big.loss, big.meanProbPos, big.meanProbNeg]);
});

test('exposure weights are count^alpha; alpha 0 is uniform', async () => {
  assert.deepEqual([...exposureWeights([0, 1, 4], 0)], [1, 1, 1]);
  assert.deepEqual([...exposureWeights([0, 1, 4], 1)], [0, 1, 4]);
  assert.deepEqual([...exposureWeights([0, 1, 4], 0.5)], [0, 1, 2]);
});

test('synthetic world: training on logged impressions, 5% held out as the validation log', async () => {
  const d = rankerData(world, worldSplits, config.ranker, new Rng(1));
  const n = world.truth!.impressions.length;
  assert.equal(d.kind, 'impressions');
  assert.equal(d.valid.histories.length, Math.round(0.05 * n));
  assert.equal(d.train.size + d.valid.histories.length, n);
  const b = d.train.next(new Rng(2), 7);
  assert.equal(b.G, 5);
  assert.equal(b.history.length, 7 * 5);
  assert.equal(b.items.length, 7 * 5);
  assert.ok([...b.labels].every((l) => l === 0 || l === 1));
  // Every impression contains the consumed (clicked) item.
  for (let r = 0; r < 7; r++) assert.ok(b.labels.subarray(r * 5, r * 5 + 5).some((l) => l === 1));
});

test('real logs: each training position is a positive with exposure-sampled negatives', async () => {
  const pos = trainingPositives(worldSplits);
  let expected = 0;
  for (const s of worldSplits.train) expected += s.length - 1;
  assert.equal(pos.positives.length, expected);
  assert.equal(pos.histories[0].length, 1);
  assert.equal(pos.positives[0], worldSplits.train[pos.users[0]][1]);

  const rc = { ...config.ranker, negativesPerPositive: 3, exposureBias: 3 };
  const d = rankerData(realLog, worldSplits, rc, new Rng(1));
  assert.equal(d.kind, 'sampled-negatives');
  assert.equal(d.valid.G, 4);
  assert.equal(d.valid.histories.length, worldSplits.valid.length);
  const b = d.train.next(new Rng(5), 50);
  let negSame = 0;
  const negCounts = new Map<number, number>();
  for (let r = 0; r < 50; r++) {
    assert.deepEqual([...b.labels.subarray(r * 4, r * 4 + 4)], [1, 0, 0, 0]);
    for (let j = 1; j < 4; j++) {
      const it = b.items[r * 4 + j];
      if (it === b.items[r * 4]) negSame++;
      negCounts.set(it, (negCounts.get(it) ?? 0) + 1);
    }
  }
  assert.ok(negSame <= 2, 'negatives avoid the positive');
  // Exposure ∝ count^3 concentrates negatives on the head: the most drawn item takes a large share.
  assert.ok(Math.max(...negCounts.values()) > 150 / 40 * 3);
});

test('repeated training steps leave the tensor count flat and lower the loss', async () => {
  await initBackend('wasm');
  const d = rankerData(world, worldSplits, config.ranker, new Rng(1));
  const ranker = Ranker.create(world.itemIds.length, rankerArch(config.ranker), new Rng(2));
  const opt = new AdamW(ranker.params, { weightDecay: 0.01, gradClip: 1 });
  const rng = new Rng(3);
  const batch = d.train.next(rng, 32);
  const first = await rankerStep(ranker, opt, batch, 1e-2);
  const count = tf.memory().numTensors;
  let last = first;
  for (let i = 0; i < 15; i++) last = await rankerStep(ranker, opt, batch, 1e-2);
  assert.equal(tf.memory().numTensors, count);
  assert.ok(last.loss < first.loss, `${last.loss} < ${first.loss}`);
  assert.ok(Number.isFinite(first.gradNorm));
  // A non-finite loss never reaches the weights.
  const emb = ranker.params.get('ranker/b2')!;
  emb.assign(tf.tensor1d([NaN]));
  const w1 = ranker.params.get('ranker/w1c')!.dataSync().slice();
  const bad = await rankerStep(ranker, opt, batch, 1e-2);
  assert.ok(Number.isNaN(bad.loss));
  assert.deepEqual([...ranker.params.get('ranker/w1c')!.dataSync()], [...w1]);
  opt.dispose();
  ranker.dispose();
});

function context(stageDir: string, cfg: Config, dataset: Dataset, opts: { signal?: AbortSignal; resume?: boolean; onStep?: (s: number) => void } = {}) {
  const rows: Record<string, unknown>[] = [];
  const lines: string[] = [];
  const inputs = { dataset, splits: leaveOneOut(dataset), manifest: { hash: `test-${dataset.source}` }, dataDir: '', sids: null, sidHash: '' } as unknown as PreparedInputs;
  const ctx: StageContext = {
    config: cfg,
    inputs,
    stageDir,
    rng: new Rng(cfg.seed).fork('ranker'),
    metrics: (r) => rows.push(r),
    // As the run's metrics.jsonl: a resumed stage drops its rows after the checkpoint.
    rewindMetrics: (step) => rows.splice(0, rows.length, ...rows.filter((r) => (r.step as number) <= step)),
    progress: () => ({ ...silentProgress, update: (s: number) => opts.onStep?.(s) }),
    log: (l) => lines.push(l),
    signal: opts.signal ?? new AbortController().signal,
    resume: opts.resume ?? false,
    upstream: {},
  };
  return { ctx, rows, lines };
}

function weights(r: Ranker): number[][] {
  return [...r.params.values()].map((v) => [...v.dataSync()]);
}

test('trainRanker: checkpoints, pointers, metrics, evaluation; Ctrl-C then resume reaches the same weights', async () => {
  await initBackend('wasm');
  const root = tmpDir('ranker-stage-');
  const before = tf.memory().numTensors;

  const full = context(path.join(root, 'full'), config, world);
  const res = await trainRanker(full.ctx);
  assert.ok(res.bestStep > 0 && res.bestStep <= 30);
  assert.ok(res.bestMetric > 0.5 && res.bestMetric <= 1);
  for (const f of ['best.json', 'final.json', 'last.json', 'eval-best-valid.json']) assert.ok(fs.existsSync(path.join(full.ctx.stageDir, f)), f);
  const evals = full.rows.filter((r) => r.kind === 'eval');
  assert.deepEqual(
    evals.map((r) => r.step),
    [10, 20, 30],
  );
  assert.equal(full.rows.filter((r) => r.kind === 'train').length, 3);
  assert.ok(full.rows.some((r) => r.kind === 'rankerEval' && typeof r.tail_auc === 'number'));
  assert.ok(full.lines.some((l) => /\| tail/.test(l)), 'the evaluation table is printed');
  assert.equal(tf.memory().numTensors, before, 'the stage leaves no tensors behind');

  // Interrupt after step 15, then resume.
  const ac = new AbortController();
  const dir = path.join(root, 'cut');
  const cut = context(dir, config, world, { signal: ac.signal, onStep: (s) => s === 15 && ac.abort() });
  await assert.rejects(trainRanker(cut.ctx), (e: unknown) => e instanceof InterruptedError && e.step === 15);
  assert.ok(fs.existsSync(path.join(dir, 'checkpoints', 'step_15')));
  assert.ok(!fs.existsSync(path.join(dir, 'final.json')));
  const resumed = context(dir, config, world, { resume: true });
  const res2 = await trainRanker(resumed.ctx);
  assert.equal(res2.bestStep, res.bestStep);
  assert.equal(res2.bestMetric, res.bestMetric);
  const a = loadRanker(full.ctx.stageDir, 'final', config);
  const b = loadRanker(dir, 'final', config);
  assert.deepEqual(weights(a), weights(b));
  assert.ok([...a.params.values()].every((v) => !v.trainable), 'loaded rankers are frozen');
  a.dispose();
  b.dispose();

  // Another architecture or another config hash is refused.
  assert.throws(() => loadRanker(full.ctx.stageDir, 'best', validateConfig({ ranker: { dim: 16, maxHistory: 5, hidden: 8 } })), UserError);
  assert.throws(() => loadRanker(full.ctx.stageDir, 'best', config, { configHash: 'other' }), UserError);
  assert.equal(tf.memory().numTensors, before);
});

test('trainRanker on a real log (no impressions) trains with sampled negatives and evaluates by bucket', async () => {
  await initBackend('wasm');
  const cfg = validateConfig({ ...config, ranker: { ...config.ranker, steps: 10 }, eval: { every: 10, batchSize: 32 } });
  const run = context(tmpDir('ranker-real-'), cfg, realLog);
  const res = await trainRanker(run.ctx);
  assert.equal(res.bestStep, 10);
  assert.equal(res.eval?.labelSource, 'next-item');
  assert.deepEqual(
    res.eval?.rows.map((r) => r.group),
    ['overall', 'head', 'torso', 'tail'],
  );
});

test('a non-finite loss stops the stage with NonFiniteLossError naming the step', async () => {
  await initBackend('wasm');
  // lr 1e30 without clipping throws the weights to +-1e30 after one step: the logits overflow.
  const cfg = validateConfig({ ...config, ranker: { ...config.ranker, steps: 5, lr: 1e30, warmupSteps: 0, gradClip: 0, weightDecay: 0 } });
  const before = tf.memory().numTensors;
  const run = context(tmpDir('ranker-nan-'), cfg, world);
  await assert.rejects(trainRanker(run.ctx), (e: unknown) => e instanceof NonFiniteLossError && e.step >= 2 && /step \d/.test(e.message));
  assert.ok(!fs.existsSync(path.join(run.ctx.stageDir, 'final.json')));
  assert.equal(tf.memory().numTensors, before);
});
