/**
 * The stage loop every training stage runs (src/train/loop.ts), on a one-weight "model" so that
 * cadence, best and final pointers, pruning, resume and the divergence guard are checked exactly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { validateConfig } from '../../src/config/load.js';
import type { PreparedInputs } from '../../src/data/inputs.js';
import { InterruptedError, NonFiniteLossError } from '../../src/errors.js';
import { readPointer } from '../../src/model/checkpoint.js';
import { silentProgress } from '../../src/progress.js';
import { Rng } from '../../src/rng.js';
import type { StageContext } from '../../src/train/context.js';
import { runStageLoop, type StageSpec } from '../../src/train/loop.js';
import { AdamW } from '../../src/train/optimizer.js';
import { tmpDir } from '../helpers/tmp.js';

type Row = Record<string, unknown>;

/** Validation metric at each validated step: best at step 4. */
const VALID: Record<number, number> = { 2: 0.1, 4: 0.3, 6: 0.2, 7: 0.25 };

function stage(stageDir: string, rows: Row[], o: { abortAfter?: number; nanAt?: number; resume?: boolean; abort?: AbortController } = {}) {
  const config = validateConfig({ eval: { every: 2 } });
  const abort = o.abort ?? new AbortController();
  const w = tf.variable(tf.scalar(0), true, `loop-test-w-${Math.random()}`);
  const params = new Map([['w', w]]);
  const optimizer = new AdamW(params, { weightDecay: 0, gradClip: 0 });
  const ctx: StageContext = {
    config,
    inputs: {} as PreparedInputs,
    stageDir,
    rng: new Rng(7),
    metrics: (r) => rows.push(r),
    rewindMetrics: (step) => rows.splice(0, rows.length, ...rows.filter((r) => (r.step as number) <= step)),
    progress: () => silentProgress,
    log: () => {},
    signal: abort.signal,
    resume: o.resume ?? false,
    upstream: {},
  };
  const spec: StageSpec = {
    stage: 'sft',
    ctx,
    configHash: 'h',
    steps: 7,
    schedule: { lr: 0.1, warmupSteps: 0, minLrRatio: 1, checkpointEvery: 3 },
    params,
    optimizer,
    logEvery: 2,
    step: async (step, lr, rng) => {
      // loss = (w - target)^2 with a target drawn from the stage stream: resume must continue it.
      const target = 3 + rng.next();
      const { value, grads } = tf.variableGrads(() => tf.square(tf.sub(w, target)) as tf.Scalar, [w]);
      const loss = step + 1 === o.nanAt ? Number.NaN : value.dataSync()[0];
      value.dispose();
      const gradNorm = Number.isFinite(loss) ? (await optimizer.step(grads, lr)).gradNorm : Number.NaN;
      tf.dispose(Object.values(grads));
      if (step + 1 === o.abortAfter) abort.abort('SIGTERM');
      return { loss, gradNorm };
    },
    summarize: (reports) => ({ loss: reports.reduce((s, r) => s + r.loss, 0) / reports.length }),
    progressFields: (m) => ({ loss: m.loss }),
    validate: (step) => {
      rows.push({ kind: 'valid', step, metric: VALID[step] });
      return VALID[step];
    },
    metricName: 'metric',
  };
  const dispose = () => {
    w.dispose();
    optimizer.dispose();
  };
  return { spec, weight: () => w.dataSync()[0], dispose };
}

const steps = (dir: string) => fs.readdirSync(path.join(dir, 'checkpoints')).sort();

test('cadence: train rows every logEvery, validation every eval.every, best/final pointers, two newest checkpoints kept', async () => {
  const dir = tmpDir();
  const rows: Row[] = [];
  const s = stage(dir, rows);
  const r = await runStageLoop(s.spec);
  s.dispose();
  assert.deepEqual(r, { bestStep: 4, bestMetric: 0.3, finalStep: 7, resumedFrom: null });
  assert.deepEqual(rows.map((x) => `${x.kind}${x.step}`), ['train2', 'valid2', 'train4', 'valid4', 'train6', 'valid6', 'train7', 'valid7']);
  assert.equal(rows[0].lr, 0.1);
  // Saved at 2 (first best), 3 (cadence), 4 (best), 6 (cadence), 7 (end); kept: the newest two and best.
  assert.deepEqual(steps(dir), ['step_4', 'step_6', 'step_7']);
  assert.equal(readPointer(dir, 'best')?.step, 4);
  assert.equal(readPointer(dir, 'final')?.step, 7);
});

test('a stop request saves the current step; resume reaches the uninterrupted weights and rows exactly', async () => {
  const full: Row[] = [];
  const a = stage(tmpDir(), full);
  await runStageLoop(a.spec);
  const want = a.weight();
  a.dispose();

  const dir = tmpDir();
  const rows: Row[] = [];
  const b = stage(dir, rows, { abortAfter: 5 });
  await assert.rejects(runStageLoop(b.spec), (e: unknown) => e instanceof InterruptedError && e.step === 5 && e.exitCode === 143);
  b.dispose();
  assert.ok(steps(dir).includes('step_5'));
  // Rows logged after the checkpoint would be logged again: the resumed stage cuts them.
  rows.push({ kind: 'train', step: 6, stale: true });
  const c = stage(dir, rows, { resume: true });
  const r = await runStageLoop(c.spec);
  assert.equal(r.resumedFrom, 5);
  assert.equal(c.weight(), want);
  c.dispose();
  const strip = (xs: Row[]) => xs.map((x) => `${x.kind}${x.step}:${x.loss ?? x.metric}`);
  assert.deepEqual(strip(rows), strip(full));
});

test('a non-finite loss stops the stage naming the step and the last checkpoint, or that none was saved', async () => {
  const dir = tmpDir();
  const s = stage(dir, [], { nanAt: 5 });
  await assert.rejects(runStageLoop(s.spec), (e: unknown) => e instanceof NonFiniteLossError && e.step === 5 && e.lastCheckpoint === 4 && /step 5.*checkpoint \(step 4\) is kept/.test(e.message));
  s.dispose();
  assert.equal(readPointer(dir, 'last')?.step, 4);
  const early = stage(tmpDir(), [], { nanAt: 1 });
  await assert.rejects(runStageLoop(early.spec), (e: unknown) => e instanceof NonFiniteLossError && e.lastCheckpoint === null && /No checkpoint of this stage had been saved yet/.test(e.message));
  early.dispose();
});
