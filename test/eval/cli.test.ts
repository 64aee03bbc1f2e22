/** `adagrpo eval` through the real CLI on a tiny run: table, files, and its user errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { runCli } from '../helpers/cli.js';
import { tmpDir, writeFile } from '../helpers/tmp.js';
import { TINY_WORLD } from '../helpers/tiny.js';

const TINY = `${TINY_WORLD}sft: { steps: 4, batchSize: 8, warmupSteps: 1, checkpointEvery: 2 }
eval: { every: 2, beam: 10, ks: [1, 5, 10], maxUsers: 10 }
`;

test('eval prints policy and popular side by side and writes the result and top-10 files; user errors exit 2', () => {
  const cwd = tmpDir();
  writeFile(cwd, 'tiny.yaml', TINY);
  const t = runCli(['train', '--config', 'tiny.yaml', '--until', 'sft'], cwd);
  assert.equal(t.code, 0, t.stderr);

  const r = runCli(['eval', '--run', 'runs/tiny_s1', '--split', 'valid', '--max-users', '12', '--constrained'], cwd);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /sft\/best \(step \d+\) on valid: 12 users, beam 10, constrained/);
  assert.match(r.stdout, /metric\s+sft\/best\s+popular/);
  // Constrained decoding never hallucinates.
  assert.match(r.stdout, /hallucination@10\s+0\.0000\s+0\.0000/);
  // Settings other than train's test evaluation (here: constrained, 12 users) name the file.
  const out = JSON.parse(fs.readFileSync(path.join(cwd, 'runs/tiny_s1/eval/sft-best-valid-constrained-n12.json'), 'utf8'));
  assert.equal(out.users, 12);
  assert.equal(out.beam, 10);
  assert.equal(out.constrained, true);
  assert.equal(out.backend, 'wasm');
  assert.ok(out.seconds > 0);
  for (const k of ['hr@1', 'ndcg@10', 'hallucination@10', 'validity', 'coverage@10', 'popularity@10', 'utility@10']) {
    assert.ok(Number.isFinite(out.metrics[k]), k);
    assert.ok(Number.isFinite(out.popular[k]), `popular ${k}`);
  }
  assert.equal(out.metrics['hallucination@10'], 0);
  const lines = fs.readFileSync(path.join(cwd, 'runs/tiny_s1/eval/sft-best-valid-constrained-n12.top10.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 12);
  assert.deepEqual(Object.keys(lines[0]), ['user', 'target', 'top10', 'scores']);
  assert.equal(lines[0].top10.length, 10);

  const f = runCli(['eval', '--run', 'runs/tiny_s1', '--checkpoint', 'final', '--beam', '2', '--max-users', '5'], cwd);
  assert.equal(f.code, 0, f.stderr);
  assert.ok(fs.existsSync(path.join(cwd, 'runs/tiny_s1/eval/sft-final-test.json')));
  // train's own test file is left as train wrote it (every test user, the config's beam).
  const trainFile = JSON.parse(fs.readFileSync(path.join(cwd, 'runs/tiny_s1/eval/sft-final-test.json'), 'utf8'));
  assert.equal(trainFile.beam, 10);
  assert.ok(trainFile.users > 5);
  const small = JSON.parse(fs.readFileSync(path.join(cwd, 'runs/tiny_s1/eval/sft-final-test-beam2-n5.json'), 'utf8'));
  assert.deepEqual([small.beam, small.users], [2, 5]);

  // The ranker is evaluated from the same run once its stage exists.
  const noRanker = runCli(['eval', '--run', 'runs/tiny_s1', '--ranker'], cwd);
  assert.equal(noRanker.code, 2);
  assert.match(noRanker.stderr, /checkpoint "best" not found/);
  const rt = runCli(['train', '--config', 'tiny.yaml', '--until', 'ranker', '--set', 'name=tiny-r', '--set', 'ranker.steps=4'], cwd);
  assert.equal(rt.code, 0, rt.stderr);
  const rk = runCli(['eval', '--run', 'runs/tiny-r_s1', '--ranker', '--split', 'valid'], cwd);
  assert.equal(rk.code, 0, rk.stderr);
  assert.match(rk.stdout, /\| head +\|/);
  assert.match(rk.stdout, /\| fresh +\|/);
  const rj = JSON.parse(fs.readFileSync(path.join(cwd, 'runs/tiny-r_s1/eval/ranker-best-valid.json'), 'utf8'));
  assert.ok(rj.rows.some((r: { group: string; auc: number }) => r.group === 'overall' && r.auc >= 0 && r.auc <= 1));

  const missingRun = runCli(['eval', '--run', 'runs/nope'], cwd);
  assert.equal(missingRun.code, 2);
  assert.match(missingRun.stderr, /runs\/nope does not exist/);
  const missingCk = runCli(['eval', '--run', 'runs/tiny_s1', '--checkpoint', 'step_99'], cwd);
  assert.equal(missingCk.code, 2);
  assert.match(missingCk.stderr, /checkpoint "step_99" not found.*Available: best, final, last/);
  const badBeam = runCli(['eval', '--run', 'runs/tiny_s1', '--beam', '0'], cwd);
  assert.equal(badBeam.code, 2);
  assert.match(badBeam.stderr, /--beam must be an integer >= 1/);
  for (const e of [missingRun, missingCk, badBeam]) assert.doesNotMatch(e.stderr, /at .*\.js:\d+/);
});
