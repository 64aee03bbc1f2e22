/**
 * `adagrpo baseline --model sasrec` through the real CLI on the tiny world: run folder, test
 * reports, resume; then its column in `eval --sasrec` and its row in `report` beside a policy run,
 * and beside an SFT-only run (`train --until sft`) with the SFT validation curves.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { readEvalReport } from '../../src/runs/evalReport.js';
import { readMetrics } from '../../src/runs/metrics.js';
import { runCli } from '../helpers/cli.js';
import { TINY_WORLD } from '../helpers/tiny.js';
import { tmpDir, writeFile } from '../helpers/tmp.js';

const CONFIG =
  TINY_WORLD +
  'eval: { every: 10, beam: 10, ks: [1, 5, 10] }\nsasrec: { dim: 16, layers: 1, heads: 2, maxLen: 6, steps: 20, batchSize: 8, warmupSteps: 0, checkpointEvery: 10 }\n' +
  // The policy run the baseline is compared with (train reads these; baseline does not).
  'sft: { steps: 4, batchSize: 8, warmupSteps: 1 }\nranker: { steps: 4, batchSize: 32, dim: 8, hidden: 8, maxHistory: 5 }\nrl: { steps: 2, batchSize: 4, numGenerations: 4 }\n';

test('baseline trains SASRec on the same split, writes best/final test reports and prints them beside most-popular', () => {
  const cwd = tmpDir();
  writeFile(cwd, 'tiny.yaml', CONFIG);
  const r = runCli(['baseline', '--config', 'tiny.yaml', '--model', 'sasrec', '--no-progress'], cwd);
  assert.equal(r.code, 0, r.stderr);
  const run = path.join(cwd, 'runs', 'tiny-sasrec_s1');
  assert.match(r.stdout, /tiny-sasrec_s1: sasrec on test, 30 users, top 10 of the full catalog/);
  assert.match(r.stdout, /hr@10 +\d\.\d{4} +\d\.\d{4} +\d\.\d{4}/);
  for (const ck of ['best', 'final']) {
    const rep = readEvalReport(path.join(run, 'eval', `sasrec-${ck}-test.json`));
    assert.equal(rep.stage, 'sasrec');
    assert.equal(rep.users, 30);
    assert.equal(rep.metrics['hallucination@10'], 0); // every recommendation is an item
    assert.ok(rep.metrics['hr@10'] >= 0 && rep.metrics['hr@10'] <= 1);
    assert.ok('hr@10' in rep.popular);
  }
  const rows = readMetrics(run, { stage: 'sasrec' });
  assert.deepEqual(rows.filter((x) => x.kind === 'train').map((x) => x.step), [10, 20]);
  assert.deepEqual(rows.filter((x) => x.kind === 'test').map((x) => x.checkpoint), ['best', 'final']);
  // A finished baseline run is not trained twice: the folder exists, --resume refuses a completed run.
  const again = runCli(['baseline', '--config', 'tiny.yaml', '--no-progress'], cwd);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /already exists/);
  assert.ok(fs.existsSync(path.join(run, 'sasrec', 'final.json')));

  // Beside a policy trained from the same config: same data, same 30 test users.
  const t = runCli(['train', '--config', 'tiny.yaml', '--no-progress'], cwd);
  assert.equal(t.code, 0, t.stderr);
  const best = readEvalReport(path.join(run, 'eval', 'sasrec-best-test.json'));
  const rlBest = readEvalReport(path.join(cwd, 'runs', 'tiny_s1', 'eval', 'rl-best-test.json'));
  const e = runCli(['eval', '--run', 'runs/tiny_s1', '--sasrec', 'runs/tiny-sasrec_s1', '--no-progress'], cwd);
  assert.equal(e.code, 0, e.stderr);
  assert.match(e.stdout, /metric +rl\/best +popular +sasrec\/best/);
  for (const m of ['hr@10', 'ndcg@10', 'hallucination@10']) {
    const line = e.stdout.split('\n').find((l) => l.startsWith(`${m} `))!.trim().split(/ +/);
    assert.deepEqual(line.slice(2), [rlBest.popular[m].toFixed(4), best.metrics[m].toFixed(4)], m);
  }
  // Other users than the baseline tested: refused before decoding, with the fix (the other refusals: test/train/baseline.test.ts).
  const few = runCli(['eval', '--run', 'runs/tiny_s1', '--sasrec', 'runs/tiny-sasrec_s1', '--max-users', '12'], cwd);
  assert.equal(few.code, 2);
  assert.match(few.stderr, /tested on 30 test users, this evaluation on 12 test users spread over the split: pass --max-users 30/);
  // --user-sample overrides the run's eval.userSample (spread) for this evaluation: the report
  // records it, and a sample other than the run's gets its own file instead of overwriting.
  const files: Record<string, string> = {};
  for (const how of ['first', 'spread']) {
    const sub = runCli(['eval', '--run', 'runs/tiny_s1', '--max-users', '12', '--user-sample', how, '--no-progress'], cwd);
    assert.equal(sub.code, 0, sub.stderr);
    const file = /wrote (\S+) and its/.exec(sub.stderr)![1];
    files[how] = path.basename(file);
    const r = readEvalReport(path.isAbsolute(file) ? file : path.join(cwd, file));
    assert.deepEqual([r.users, r.userSample], [12, how]);
  }
  assert.deepEqual(files, { first: 'rl-best-test-n12-first.json', spread: 'rl-best-test-n12.json' });

  // The report: most-popular from the policy run's test report, SASRec from its own (one seed: no interval).
  const rep = runCli(['report', 'runs/tiny_s1', 'runs/tiny-sasrec_s1', '--metrics', 'hr@10,ndcg@10'], cwd);
  assert.equal(rep.code, 0, rep.stderr);
  const cells = (m: Record<string, number>) => ['hr@10', 'ndcg@10'].map((k) => m[k].toFixed(4)).join(' \\| ');
  assert.match(rep.stdout, new RegExp(`\\| most-popular \\| - \\| - \\| ${cells(rlBest.popular)} \\|`));
  assert.match(rep.stdout, new RegExp(`\\| SASRec \\(tiny-sasrec\\) \\| 1 \\| 1 \\| ${cells(best.metrics)} \\|`));
  assert.equal(rlBest.users, best.users);

  // An SFT-only run (a 5-step SFT of its own) is reported on its SFT policy, beside SASRec, with its curves.
  const sft = runCli(['train', '--config', 'tiny.yaml', '--no-progress', '--set', 'name=tiny-sft', '--set', 'sft.steps=5', '--until', 'sft'], cwd);
  assert.equal(sft.code, 0, sft.stderr);
  const sftBest = readEvalReport(path.join(cwd, 'runs', 'tiny-sft_s1', 'eval', 'sft-best-test.json'));
  const srep = runCli(['report', 'runs/tiny-sft_s1', 'runs/tiny-sasrec_s1', '--metrics', 'hr@10,ndcg@10', '--plots', '--out', 'sft-report'], cwd);
  assert.equal(srep.code, 0, srep.stderr);
  assert.match(srep.stdout, /Test metrics of the SFT policy/);
  assert.match(srep.stdout, new RegExp(`\\| tiny-sft \\| 1 \\| 1 \\| ${cells(sftBest.metrics)} \\|`));
  assert.match(srep.stdout, new RegExp(`\\| SASRec \\(tiny-sasrec\\) \\| 1 \\| 1 \\| ${cells(best.metrics)} \\|`));
  // SFT validation every 10 of 5 steps: only the final one, at step 5.
  assert.match(srep.stdout, /## SFT training[\s\S]*\| tiny-sft \| 1 \| 5 \| \d\.\d{4} \| 5 \| \d\.\d{4} \|/);
  const svg = fs.readFileSync(path.join(cwd, 'sft-report', 'plots', 'training-curves.svg'), 'utf8');
  assert.match(svg, /SFT step/);
  assert.match(svg, /SASRec \(tiny-sasrec\)/);
  // An RL run and an SFT-only run are two different comparisons.
  const mixed = runCli(['report', 'runs/tiny_s1', 'runs/tiny-sft_s1'], cwd);
  assert.equal(mixed.code, 2);
  assert.match(mixed.stderr, /tiny_s1 is an RL run and tiny-sft_s1 stopped after SFT/);
});
