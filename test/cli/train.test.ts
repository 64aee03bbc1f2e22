/**
 * The real CLI on a tiny world, end to end: the whole pipeline, the run folder's contents, reuse
 * of the upstream stages when only RL settings change, and Ctrl-C followed by --resume.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { loadCheckpoint, OPTIMIZER_STATE_PREFIX, resolveCheckpoint } from '../../src/model/checkpoint.js';
import { resolveStageDir } from '../../src/runs/stages.js';
import { runCli, runCliInterrupted } from '../helpers/cli.js';
import { tmpDir, writeFile } from '../helpers/tmp.js';

const TINY = [
  'name: tiny',
  'data:',
  '  synthetic: { numItems: 60, numUsers: 80, numCategories: 4, minSeqLen: 5, maxSeqLen: 8 }',
  'sid: { embedding: latent, levels: 2, codebookSize: 8 }',
  'policy: { layers: 1, dim: 16, heads: 2, maxHistory: 5 }',
  'sft: { steps: 12, batchSize: 16, warmupSteps: 2 }',
  'ranker: { steps: 12, batchSize: 64, dim: 8, hidden: 8, maxHistory: 5 }',
  'rl: { steps: 4, batchSize: 8, numGenerations: 4 }',
  'eval: { every: 4, beam: 10, ks: [1, 5, 10], maxUsers: 40 }',
  '',
].join('\n');

const readJson = (p: string) => JSON.parse(fs.readFileSync(p, 'utf8'));

test('train runs every stage, writes the run folder and prints test metrics at best and final', () => {
  const cwd = tmpDir();
  writeFile(cwd, 'tiny.yaml', TINY);
  const r = runCli(['train', '--config', 'tiny.yaml', '--backend', 'cpu', '--no-progress'], cwd);
  assert.equal(r.code, 0, r.stderr);
  const run = path.join(cwd, 'runs', 'tiny_s1');
  for (const f of ['config.yaml', 'meta.json', 'metrics.jsonl', 'upstream.json', 'sft/stage.json', 'ranker/stage.json', 'rl/best.json', 'rl/final.json', 'eval/rl-best-test.json', 'eval/rl-final-test.json']) {
    assert.ok(fs.existsSync(path.join(run, f)), `missing ${f}`);
  }
  const meta = readJson(path.join(run, 'meta.json'));
  assert.equal(meta.status, 'completed');
  assert.equal(meta.backend.name, 'cpu');
  const rows = fs.readFileSync(path.join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const rl = rows.filter((x) => x.stage === 'rl' && typeof x.admission === 'number');
  assert.equal(rl.length, 4);
  for (const k of ['nll', 'grpo', 'admission', 'rateHard', 'rateDisc', 'overlap', 'effectiveRlWeight', 'rewardMean', 'rewardStd', 'fracZeroStd', 'fracInvalid', 'kl', 'clipFrac', 'entropy', 'reliabilityAdmitted']) {
    assert.ok(k in rl[0], `RL row lacks ${k}`);
  }
  assert.match(r.stdout, /rl on test, 80 users, beam 10/);
  assert.match(r.stdout, /hr@10 .*\d\.\d{4}/);
  assert.match(r.stdout, /hallucination@10/);

  // Only RL and the test evaluation change: data, IDs, SFT and ranker are reused, RL trains anew.
  // grpo+nll at the first run's effective RL weight: lambda = its mean admission rate.
  const sets = ['name=tiny-lm', 'rl.algorithm=grpo+nll', 'rl.lambdaMatchRun=runs/tiny_s1', 'eval.testMaxUsers=30'].flatMap((s) => ['--set', s]);
  const r2 = runCli(['train', '--config', 'tiny.yaml', '--backend', 'cpu', '--no-progress', ...sets], cwd);
  assert.equal(r2.code, 0, r2.stderr);
  assert.match(r2.stderr, /sft: reusing the finished stage/);
  assert.match(r2.stderr, /ranker: reusing the finished stage/);
  assert.match(r2.stderr, /rl: training in/);
  assert.deepEqual(
    readJson(path.join(cwd, 'runs', 'tiny-lm_s1', 'sft', 'stage.json')),
    readJson(path.join(run, 'sft', 'stage.json')),
  );
  const lambda = rl.reduce((a, x) => a + x.admission, 0) / rl.length;
  assert.match(r2.stderr, new RegExp(`lambda = ${lambda.toFixed(4)}`));
  const lm = fs.readFileSync(path.join(cwd, 'runs', 'tiny-lm_s1', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  for (const x of lm.filter((x) => x.stage === 'rl' && typeof x.admission === 'number')) {
    assert.equal(x.admission, 1, 'grpo+nll admits every sample');
    assert.ok(Math.abs(x.effectiveRlWeight - lambda) < 1e-12);
  }
  assert.match(r2.stdout, /rl on test, 30 users, beam 10/);

  // rl.optimizerFromSft: RL's AdamW starts from the SFT checkpoint's moments and step count
  // (its step-0 checkpoint holds them); by default from zeros.
  const carried = (name: string, extra: string[]) => {
    const t = runCli(['train', '--config', 'tiny.yaml', '--backend', 'cpu', '--no-progress', '--set', `name=${name}`, '--set', 'rl.steps=0', '--set', 'eval.testMaxUsers=5', ...extra], cwd);
    assert.equal(t.code, 0, t.stderr);
    return { stderr: t.stderr, ck: loadCheckpoint(resolveCheckpoint(resolveStageDir(path.join(cwd, 'runs', `${name}_s1`), 'rl'), 'step_0')) };
  };
  const sft = loadCheckpoint(resolveCheckpoint(resolveStageDir(run, 'sft'), 'best'));
  const on = carried('tiny-carry', ['--set', 'rl.optimizerFromSft=true']);
  const off = carried('tiny-fresh', []);
  assert.match(on.stderr, new RegExp(`AdamW moments and step count \\(${sft.state.optimizerStep}\\) from the SFT checkpoint`));
  assert.equal(on.ck.state.optimizerStep, sft.state.optimizerStep);
  assert.equal(off.ck.state.optimizerStep, 0);
  const moments = [...sft.tensors.keys()].filter((k) => k.startsWith(OPTIMIZER_STATE_PREFIX));
  assert.ok(moments.length > 0);
  for (const k of moments) {
    assert.deepEqual(Array.from(on.ck.tensors.get(k)!.dataSync()), Array.from(sft.tensors.get(k)!.dataSync()), k);
    assert.ok(off.ck.tensors.get(k)!.dataSync().every((x) => x === 0), k);
  }
});

test('Ctrl-C saves a checkpoint and marks the run interrupted; --resume finishes it', async () => {
  const cwd = tmpDir();
  writeFile(cwd, 'tiny.yaml', TINY.replace('steps: 12, batchSize: 16', 'steps: 150, batchSize: 16').replace('every: 4', 'every: 100'));
  const args = ['train', '--config', 'tiny.yaml', '--no-progress', '--until', 'sft'];
  // Interrupt as soon as SFT starts: the stage must save where it is and stop.
  const { code, stderr } = await runCliInterrupted(args, cwd, /sft: training in/);
  assert.equal(code, 130, stderr);
  assert.match(stderr, /interrupted during sft at step \d+; a checkpoint was saved\. Continue with --resume/);
  const run = path.join(cwd, 'runs', 'tiny_s1');
  assert.equal(readJson(path.join(run, 'meta.json')).status, 'interrupted');
  const stageDir = path.resolve(run, readJson(path.join(run, 'sft', 'stage.json')).dir);
  const lastStep = readJson(path.join(stageDir, 'last.json')).step;
  assert.ok(lastStep > 0 && lastStep < 150, `last step ${lastStep}`);

  // A resume must use the run's own config.
  const bad = runCli([...args, '--resume', '--set', 'sft.lr=0.5'], cwd);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--resume: the config differs .* at sft\.lr/);

  const ok = runCli([...args, '--resume'], cwd);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stderr, new RegExp(`resumed .*${lastStep}|from step ${lastStep}|step ${lastStep}`));
  const meta = readJson(path.join(run, 'meta.json'));
  assert.equal(meta.status, 'completed');
  assert.equal(meta.sessions.length, 2);
  assert.equal(readJson(path.join(stageDir, 'final.json')).step, 150);
});

test('RL stopped twice by Ctrl-C and resumed twice takes exactly the steps of an uninterrupted run', async () => {
  const cwd = tmpDir();
  writeFile(cwd, 'tiny.yaml', TINY.replace('rl: { steps: 4,', 'rl: { steps: 80,').replace('every: 4', 'every: 40'));
  const full = runCli(['train', '--config', 'tiny.yaml', '--no-progress', '--set', 'name=full'], cwd);
  assert.equal(full.code, 0, full.stderr);
  const args = ['train', '--config', 'tiny.yaml', '--no-progress', '--set', 'name=cut'];
  const first = await runCliInterrupted(args, cwd, /rl: training in/);
  assert.equal(first.code, 130, first.stderr);
  // The second stop comes after a resume: the checkpoint it writes must hold the live random stream.
  const second = await runCliInterrupted([...args, '--resume'], cwd, /rl: resumed at step/);
  assert.equal(second.code, 130, second.stderr);
  const last = runCli([...args, '--resume'], cwd);
  assert.equal(last.code, 0, last.stderr);

  const rlSteps = (name: string) => {
    const rows = fs.readFileSync(path.join(cwd, 'runs', `${name}_s1`, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const byStep = new Map<number, Record<string, unknown>>();
    for (const { seconds, time, ...r } of rows.filter((x) => x.stage === 'rl' && typeof x.admission === 'number')) {
      void seconds;
      void time;
      byStep.set(r.step as number, r);
    }
    return [...byStep.values()];
  };
  const a = rlSteps('full');
  assert.equal(a.length, 80);
  assert.deepEqual(rlSteps('cut'), a);
});
