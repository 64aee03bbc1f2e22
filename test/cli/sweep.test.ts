/**
 * `sweep` and `report` through the real CLI on a tiny world: a sweep stopped with Ctrl-C continues
 * where it stopped when the same command runs again, report tabulates it with paired differences
 * and plots, and report refuses runs whose upstream stages differ.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { runCli, runCliInterrupted } from '../helpers/cli.js';
import { tmpDir, writeFile } from '../helpers/tmp.js';
import { TINY_WORLD } from '../helpers/tiny.js';

const TINY = `${TINY_WORLD}sft: { steps: 30, batchSize: 16, warmupSteps: 2 }
ranker: { steps: 10, batchSize: 64, dim: 8, hidden: 8, maxHistory: 5 }
rl: { steps: 3, batchSize: 8, numGenerations: 4 }
eval: { every: 15, beam: 10, ks: [1, 5, 10], maxUsers: 20 }
`;

const SWEEP = ['sweep', '--config', 'tiny.yaml', '--backend', 'cpu', '--seeds', '1,2', '--grid', 'rl.algorithm=nll,adagrpo', '--name-prefix', 'ab', '--no-progress'];

test('a sweep stopped by Ctrl-C continues with the same command; report compares its runs; mixed upstreams are refused', async () => {
  const cwd = tmpDir();
  writeFile(cwd, 'tiny.yaml', TINY);

  // Ctrl-C while the first run trains SFT: that run saves its step and the sweep stops.
  const { code, stderr } = await runCliInterrupted(SWEEP, cwd, /sft: training in/);
  assert.equal(code, 130, stderr);
  assert.match(stderr, /Run the same sweep command again to continue the sweep/);
  const sweepJson = () => JSON.parse(fs.readFileSync(path.join(cwd, 'runs', 'sweeps', 'ab', 'sweep.json'), 'utf8')) as { runs: { dir: string; status: string }[] };
  assert.deepEqual(
    sweepJson().runs.map((r) => r.status),
    ['interrupted', 'pending', 'pending', 'pending'],
  );

  const again = runCli(SWEEP, cwd);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /\[1\/4\] ab-rl\.algorithm_nll_s1: resuming \(was interrupted\)/);
  assert.match(again.stderr, /sft: resumed at step \d+|resumed/);
  for (const n of [2, 3, 4]) assert.match(again.stderr, new RegExp(`\\[${n}/4\\] \\S+: starting`));
  assert.deepEqual(
    sweepJson().runs.map((r) => r.status),
    ['completed', 'completed', 'completed', 'completed'],
  );
  const done = runCli(SWEEP, cwd);
  assert.equal(done.code, 0, done.stderr);
  assert.equal((done.stderr.match(/completed earlier, skipped/g) ?? []).length, 4);

  const sweepDir = path.join('runs', 'sweeps', 'ab');
  const rep = runCli(['report', sweepDir, '--baseline', 'rl.algorithm=nll', '--plots'], cwd);
  assert.equal(rep.code, 0, rep.stderr);
  assert.match(rep.stdout, /\| rl\.algorithm=adagrpo \| 2 \| 1,2 \|/);
  assert.match(rep.stdout, /\| rl\.algorithm=adagrpo \| rl\.algorithm=nll \| hr@10 \| 2 \| s1: [+-]\d\.\d{4}, s2: [+-]\d\.\d{4} \|/);
  for (const f of ['report.md', 'report.csv', 'report-paired.csv', 'plots/frontier.svg']) {
    assert.ok(fs.existsSync(path.join(cwd, sweepDir, f)), `missing ${f}`);
  }

  // A run with another SFT policy cannot be paired with the sweep's runs of its seed.
  const other = runCli(['train', '--config', 'tiny.yaml', '--backend', 'cpu', '--no-progress', '--set', 'name=other', '--set', 'sft.steps=20'], cwd);
  assert.equal(other.code, 0, other.stderr);
  const mixed = runCli(['report', sweepDir, path.join('runs', 'other_s1')], cwd);
  assert.equal(mixed.code, 2, mixed.stderr);
  assert.match(mixed.stderr, /cannot compare these runs: their data or upstream stages differ/);
  assert.match(mixed.stderr, /seed 1: the runs do not share one SFT stage.*sft\.steps/);
});
