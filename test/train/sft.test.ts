import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend.js';
import { validateConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { leaveOneOut } from '../../src/data/splits.js';
import { generateSyntheticWorld } from '../../src/data/synthetic.js';
import type { DataManifest } from '../../src/data/types.js';
import { UserError, InterruptedError, NonFiniteLossError } from '../../src/errors.js';
import { evaluatePolicy } from '../../src/eval/evaluate.js';
import { loadCheckpoint, resolveCheckpoint } from '../../src/model/checkpoint.js';
import { silentProgress, type Progress } from '../../src/progress.js';
import { Rng } from '../../src/rng.js';
import { type StageContext } from '../../src/train/context.js';
import { BatchPlan, epochBatches, trainSft, trainingWindow } from '../../src/train/sft.js';
import type { PreparedInputs } from '../../src/data/inputs.js';
import { loadPolicy } from '../../src/model/load.js';

before(async () => {
  await initBackend((process.env.ADAGRPO_TEST_BACKEND as 'wasm' | 'cpu') ?? 'wasm');
});

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'adagrpo-'));

function tinyConfig(over: Record<string, unknown> = {}): Config {
  return validateConfig({
    data: { synthetic: { numItems: 40, numUsers: 24, numCategories: 4, minSeqLen: 4, maxSeqLen: 9 } },
    policy: { layers: 1, dim: 16, heads: 2, dropout: 0.1, maxHistory: 5 },
    sft: { steps: 6, batchSize: 8, warmupSteps: 2, checkpointEvery: 2, lr: 0.01 },
    eval: { every: 3, beam: 10, ks: [1, 5, 10], maxUsers: 10, batchSize: 16 },
    ...over,
  });
}

/** A tiny synthetic world with hand-made 2-level SIDs: item i = (i mod 8, floor(i / 8)). */
function tinyInputs(config: Config): PreparedInputs {
  const dataset = generateSyntheticWorld(config.data.synthetic);
  const I = dataset.itemIds.length;
  const codes = new Int32Array(I * 2);
  for (let i = 0; i < I; i++) {
    codes[2 * i] = i % 8;
    codes[2 * i + 1] = Math.floor(i / 8);
  }
  return {
    dataset,
    splits: leaveOneOut(dataset),
    manifest: { hash: 'tiny' } as DataManifest,
    dataDir: '',
    sids: {
      levels: 2,
      codebookSizes: [8, 8],
      codes,
      stats: { method: 'file', embedding: null, levels: 2, codebookSizes: [8, 8], dedupLevel: false, collisionRate: 0, maxCollisionGroup: 1, codebookUsage: [1, 1] },
    },
    sidHash: 'tiny',
  };
}

function context(config: Config, inputs: PreparedInputs, stageDir: string, over: Partial<StageContext> = {}): StageContext & { rows: Record<string, unknown>[] } {
  const rows: Record<string, unknown>[] = [];
  return {
    config,
    inputs,
    stageDir,
    rng: new Rng(config.seed).fork('sft'),
    metrics: (r) => rows.push(r),
    // As the run's metrics.jsonl: a resumed stage drops its rows after the checkpoint.
    rewindMetrics: (step) => rows.splice(0, rows.length, ...rows.filter((r) => (r.step as number) <= step)),
    progress: () => silentProgress,
    log: () => {},
    signal: new AbortController().signal,
    resume: false,
    upstream: {},
    rows,
    ...over,
  };
}

function finalTensors(stageDir: string): Map<string, Float32Array> {
  const ck = loadCheckpoint(resolveCheckpoint(stageDir, 'final'));
  const out = new Map<string, Float32Array>();
  for (const [n, t] of ck.tensors) out.set(n, t.dataSync() as Float32Array);
  tf.dispose([...ck.tensors.values()]);
  return out;
}

test('windows and epoch batches', async () => {
  const seq = Int32Array.from([10, 11, 12, 13, 14, 15]);
  const rng = new Rng(1);
  // all: the whole sequence when it fits, else maxItems consecutive items.
  assert.deepEqual(Array.from(trainingWindow(seq, 8, 'all', rng)), [10, 11, 12, 13, 14, 15]);
  const w = Array.from(trainingWindow(seq, 3, 'all', rng));
  assert.equal(w.length, 3);
  assert.deepEqual(w, [w[0], w[0] + 1, w[0] + 2]);
  // last: ends anywhere, at most maxItems long.
  for (let i = 0; i < 20; i++) {
    const l = trainingWindow(seq, 3, 'last', rng);
    assert.ok(l.length >= 1 && l.length <= 3 && l[l.length - 1] - l[0] === l.length - 1);
  }
  // An epoch uses each user at most once; U mod B users sit out; lengths are grouped.
  const users = Array.from({ length: 21 }, (_, i) => i);
  const lengths = users.map((u) => (u * 7) % 5);
  const batches = epochBatches(users, lengths, 4, 123, 0);
  assert.equal(batches.length, 5);
  const seen = batches.flat();
  assert.equal(new Set(seen).size, 20);
  assert.deepEqual(epochBatches(users, lengths, 4, 123, 0), batches, 'a function of (seed, epoch)');
  assert.notDeepEqual(epochBatches(users, lengths, 4, 123, 1), batches);
  const plan = new BatchPlan(users, lengths, 4, 123);
  assert.deepEqual(plan.batch(6), epochBatches(users, lengths, 4, 123, 1)[1]);
});

test('SFT trains, validates, checkpoints with best/final pointers, and the policy loads back', async () => {
  const config = tinyConfig();
  const inputs = tinyInputs(config);
  const dir = tmp();
  const ctx = context(config, inputs, dir);
  const res = await trainSft(ctx);
  assert.equal(res.finalStep, 6);
  assert.ok([3, 6].includes(res.bestStep));
  const valid = ctx.rows.filter((r) => r.kind === 'valid');
  assert.deepEqual(valid.map((r) => r.step), [3, 6]);
  assert.equal(res.bestMetric, Math.max(...valid.map((r) => r['hr@10'] as number)));
  const train = ctx.rows.filter((r) => r.kind === 'train');
  assert.deepEqual(train.map((r) => r.step), [6]);
  for (const k of ['loss', 'lr', 'gradNorm', 'tokensPerSec']) assert.ok(Number.isFinite(train[0][k] as number), k);
  for (const which of ['best', 'final', 'last']) assert.ok(fs.existsSync(path.join(dir, `${which}.json`)), which);
  const state = loadCheckpoint(resolveCheckpoint(dir, 'final'));
  assert.equal(state.state.stage, 'sft');
  assert.equal(state.state.step, 6);
  assert.deepEqual((state.state.extra as { codebookSizes: number[] }).codebookSizes, [8, 8]);
  tf.dispose([...state.tensors.values()]);

  const policy = loadPolicy(dir, 'best', config, { codebookSizes: [8, 8] });
  const r = await evaluatePolicy(policy, inputs, config, { split: 'test', maxUsers: 0 });
  assert.equal(r.users, 24);
  assert.ok(r.metrics['hr@10'] >= 0 && r.metrics.validity > 0);
  policy.dispose();
  assert.throws(() => loadPolicy(dir, 'step_99', config), UserError);
  assert.throws(() => loadPolicy(dir, 'best', config, { codebookSizes: [8, 9] }), /codebooks/);
  assert.throws(() => loadPolicy(dir, 'best', tinyConfig({ policy: { layers: 2, dim: 16, heads: 2, maxHistory: 5 } })), /does not match/);
});

test('interrupting and resuming reaches bit-identical weights to an uninterrupted run', async () => {
  const config = tinyConfig();
  const inputs = tinyInputs(config);
  const straight = tmp();
  await trainSft(context(config, inputs, straight));

  const split = tmp();
  const abort = new AbortController();
  // Ctrl-C during step 4 (not a checkpoint step): the stage saves step 4 and throws.
  const progress: Progress = { ...silentProgress, update: (step) => (step === 4 ? abort.abort() : undefined) };
  await assert.rejects(trainSft(context(config, inputs, split, { signal: abort.signal, progress: () => progress })), (e: unknown) => {
    assert.ok(e instanceof InterruptedError);
    assert.equal((e as InterruptedError).step, 4);
    return true;
  });
  assert.ok(fs.existsSync(path.join(split, 'checkpoints', 'step_4')));
  assert.ok(!fs.existsSync(path.join(split, 'final.json')));
  const ctx = context(config, inputs, split, { resume: true, rng: new Rng(999) });
  const res = await trainSft(ctx);
  assert.equal(res.finalStep, 6);

  const a = finalTensors(straight);
  const b = finalTensors(split);
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  for (const [n, va] of a) {
    const vb = b.get(n)!;
    for (let i = 0; i < va.length; i++) assert.ok(va[i] === vb[i], `${n}[${i}]: ${va[i]} vs ${vb[i]}`);
  }
  // Resuming a finished stage does nothing and reports the same result.
  const again = await trainSft(context(config, inputs, split, { resume: true }));
  assert.deepEqual(again, res);
  // A different config refuses to resume.
  const other = tinyConfig({ sft: { steps: 8, batchSize: 8, warmupSteps: 2, checkpointEvery: 2, lr: 0.02 } });
  await assert.rejects(trainSft(context(other, inputs, split, { resume: true })), /different config/);
});

test('a non-finite loss stops with the step named and no checkpoint of it', async () => {
  // lr 1e30: the first update blows the weights up to ~1e30, so the second forward overflows.
  const config = tinyConfig({ sft: { steps: 6, batchSize: 8, warmupSteps: 0, checkpointEvery: 1, lr: 1e30 } });
  const inputs = tinyInputs(config);
  const dir = tmp();
  await assert.rejects(trainSft(context(config, inputs, dir)), (e: unknown) => {
    assert.ok(e instanceof NonFiniteLossError, String(e));
    assert.equal((e as NonFiniteLossError).step, 2);
    assert.match((e as Error).message, /step 2/);
    return true;
  });
  assert.ok(fs.existsSync(path.join(dir, 'checkpoints', 'step_1')));
  assert.ok(!fs.existsSync(path.join(dir, 'checkpoints', 'step_2')));
  assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'last.json'), 'utf8')).step, 1);
});

test('the tensor count stays flat over training runs and evaluations', async () => {
  const config = tinyConfig({ sft: { steps: 3, batchSize: 8, warmupSteps: 1, checkpointEvery: 3 } });
  const inputs = tinyInputs(config);
  await trainSft(context(config, inputs, tmp()));
  const before = tf.memory().numTensors;
  const dir = tmp();
  await trainSft(context(config, inputs, dir));
  assert.equal(tf.memory().numTensors, before);
  const policy = loadPolicy(dir, 'final', config);
  await evaluatePolicy(policy, inputs, config, { split: 'valid' });
  const mid = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) await evaluatePolicy(policy, inputs, config, { split: 'test', constrained: i % 2 === 0 });
  assert.equal(tf.memory().numTensors, mid);
  policy.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test('sft.steps 0 keeps the initial policy as best and final; targets "last" trains too', async () => {
  const config = tinyConfig({ sft: { steps: 0 } });
  const inputs = tinyInputs(config);
  const dir = tmp();
  const res = await trainSft(context(config, inputs, dir));
  assert.deepEqual({ best: res.bestStep, final: res.finalStep }, { best: 0, final: 0 });
  assert.ok(fs.existsSync(path.join(dir, 'best.json')) && fs.existsSync(path.join(dir, 'final.json')));
  const last = tinyConfig({ sft: { steps: 3, batchSize: 8, warmupSteps: 1, targets: 'last' } });
  const r = await trainSft(context(last, inputs, tmp()));
  assert.equal(r.finalStep, 3);
});
