/**
 * Reused checkpoint evaluations (src/eval/evalCache.ts): the weights digest sees every policy
 * byte and no optimizer byte, and through the real CLI an evaluation of weights already evaluated
 * with the same settings is copied, not decoded again, while other settings or weights are not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend.js';
import { saveCheckpoint } from '../../src/model/checkpoint.js';
import { policyWeightsDigest } from '../../src/eval/evalCache.js';
import { runCli } from '../helpers/cli.js';
import { tmpDir, writeFile } from '../helpers/tmp.js';
import { TINY_WORLD } from '../helpers/tiny.js';

const STATE = { formatVersion: 1, stage: 'rl', rng: [1, 2, 3, 4] as [number, number, number, number], configHash: 'x', bestMetric: null, bestStep: null, optimizerStep: 0 };

test('the weights digest changes with any policy weight and ignores the optimizer moments', async () => {
  await initBackend('auto');
  const dir = tmpDir();
  const save = async (step: number, w: number[], m: number[]) => {
    const tensors = new Map<string, tf.Tensor>([
      ['w', tf.tensor(w, [2, 2])],
      ['adam_m/w', tf.tensor(m, [2, 2])],
    ]);
    const ck = await saveCheckpoint(dir, tensors, { ...STATE, step });
    tf.dispose([...tensors.values()]);
    return ck;
  };
  const a = await save(0, [1, 2, 3, 4], [0, 0, 0, 0]);
  const sameWeightsOtherMoments = await save(1, [1, 2, 3, 4], [5, 6, 7, 8]);
  const oneWeightMoved = await save(2, [1, 2, 3, 4.000001], [0, 0, 0, 0]);
  assert.equal(policyWeightsDigest(a), policyWeightsDigest(sameWeightsOtherMoments));
  assert.notEqual(policyWeightsDigest(a), policyWeightsDigest(oneWeightMoved));
  assert.match(policyWeightsDigest(a), /^[0-9a-f]{64}$/);
});

const TINY = `${TINY_WORLD}sft: { steps: 4, batchSize: 8, warmupSteps: 1, checkpointEvery: 2 }
ranker: { steps: 4, batchSize: 32, dim: 8, hidden: 8, maxHistory: 5 }
rl: { steps: 2, batchSize: 4, numGenerations: 4 }
eval: { every: 2, beam: 10, ks: [1, 5, 10], maxUsers: 10 }
`;

test('an evaluation of weights already evaluated with the same settings is reused; other settings or weights are decoded', () => {
  const cwd = tmpDir();
  writeFile(cwd, 'tiny.yaml', TINY);
  const first = runCli(['train', '--config', 'tiny.yaml', '--until', 'sft'], cwd);
  assert.equal(first.code, 0, first.stderr);
  const own = JSON.parse(fs.readFileSync(path.join(cwd, 'runs/tiny_s1/eval/sft-best-test.json'), 'utf8'));
  assert.equal(own.reusedFrom, undefined);

  // A second run shares the SFT stage (same data and settings): its test evaluation is the first run's.
  const second = runCli(['train', '--config', 'tiny.yaml', '--until', 'sft', '--set', 'name=tiny-again'], cwd);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stderr, /test sft\/best \(step \d+\): the same weights as runs\/tiny_s1 evaluated; its report reused/);
  const copy = JSON.parse(fs.readFileSync(path.join(cwd, 'runs/tiny-again_s1/eval/sft-best-test.json'), 'utf8'));
  assert.equal(copy.reusedFrom, 'runs/tiny_s1');
  assert.equal(copy.run, 'runs/tiny-again_s1');
  assert.equal(copy.step, own.step);
  const top = (run: string) => fs.readFileSync(path.join(cwd, run, 'eval/sft-best-test.top10.jsonl'), 'utf8');
  assert.equal(top('runs/tiny-again_s1'), top('runs/tiny_s1'));

  // `eval` of the same checkpoint by its step name, same settings: reused and said so.
  const byStep = runCli(['eval', '--run', 'runs/tiny-again_s1', '--checkpoint', `step_${own.step}`], cwd);
  assert.equal(byStep.code, 0, byStep.stderr);
  assert.match(byStep.stdout, /reused: runs\/tiny_s1 evaluated the same weights with the same settings/);
  // The run that computed it, evaluated again: the same numbers, and no claim to have copied itself.
  const self = runCli(['eval', '--run', 'runs/tiny_s1'], cwd);
  assert.equal(self.code, 0, self.stderr);
  assert.equal(JSON.parse(fs.readFileSync(path.join(cwd, 'runs/tiny_s1/eval/sft-best-test.json'), 'utf8')).reusedFrom, undefined);

  // One setting changed at a time is another evaluation: the beam, constrained decoding, the weights.
  const otherStep = own.step === 2 ? 4 : 2;
  for (const args of [['--beam', '5'], ['--constrained'], ['--checkpoint', `step_${otherStep}`]]) {
    const r = runCli(['eval', '--run', 'runs/tiny_s1', ...args], cwd);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /reused/, args.join(' '));
  }
  const computed = JSON.parse(fs.readFileSync(path.join(cwd, `runs/tiny_s1/eval/sft-step_${otherStep}-test.json`), 'utf8'));
  assert.equal(computed.reusedFrom, undefined);

  // The case the cache is for: RL's step 0 holds exactly the SFT weights it starts from.
  const rl = runCli(['train', '--config', 'tiny.yaml', '--set', 'name=tiny-rl'], cwd);
  assert.equal(rl.code, 0, rl.stderr);
  const sftBest = JSON.parse(fs.readFileSync(path.join(cwd, 'runs/tiny_s1/sft/stage.json'), 'utf8')).dir;
  assert.equal(
    policyWeightsDigest(path.join(cwd, 'runs/tiny-rl_s1/rl/checkpoints/step_0')),
    policyWeightsDigest(path.join(cwd, 'runs/tiny_s1', sftBest, 'checkpoints', `step_${own.step}`)),
  );
});
