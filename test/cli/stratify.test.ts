/** `adagrpo stratify` through the real CLI on tiny runs: tables, files, --compare, and its user errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { listFiles, runCli } from '../helpers/cli.js';
import { tmpDir, writeFile } from '../helpers/tmp.js';
import { TINY_WORLD } from '../helpers/tiny.js';

const TINY = `${TINY_WORLD}sft: { steps: 4, batchSize: 8, warmupSteps: 1 }
ranker: { steps: 4, batchSize: 16, dim: 8, hidden: 8, maxHistory: 5 }
rl: { steps: 2, batchSize: 8, numGenerations: 4, warmupSteps: 1 }
eval: { every: 2, beam: 12, ks: [1, 5, 10], maxUsers: 10 }
`;

test('stratify prints Tables 1-3, writes md/csv/json, compares two runs of the same data and refuses other data', () => {
  const cwd = tmpDir();
  writeFile(cwd, 'tiny.yaml', TINY);
  for (const args of [[], ['--set', 'name=tiny-nll', '--set', 'rl.algorithm=nll'], ['--set', 'name=other', '--set', 'data.synthetic.numItems=41', '--until', 'sft']]) {
    const t = runCli(['train', '--config', 'tiny.yaml', '--no-progress', ...args], cwd);
    assert.equal(t.code, 0, t.stderr);
  }

  const r = runCli(['stratify', '--run', 'runs/tiny_s1', '--split', 'valid', '--no-progress'], cwd);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /rl\/best \(step \d+\), valid/);
  assert.match(r.stdout, /30 samples, beam 12/);
  for (const h of ['## Table 1', '## Table 2', '## Table 3']) assert.ok(r.stdout.includes(h), h);
  assert.match(r.stdout, /\| hr@10 +\|/);
  assert.match(r.stdout, /\| 11-12 +\|/); // {11-W}
  assert.match(r.stdout, /RM reliability/);
  const base = path.join(cwd, 'runs/tiny_s1/stratify/rl-best-valid');
  const json = JSON.parse(fs.readFileSync(`${base}.json`, 'utf8'));
  assert.equal(json.users, 30);
  assert.equal(json.samples.length, 30);
  assert.equal(json.tables.table2.at(-1).n, 30);
  assert.equal(fs.readFileSync(`${base}.md`, 'utf8'), r.stdout);
  assert.match(fs.readFileSync(`${base}.csv`, 'utf8'), /^table,difficulty,discriminability,statistic,value\n1,all,all,hr@1_llm,/);

  // Reproducible: the in-batch negatives come from the run's seed.
  const again = runCli(['stratify', '--run', 'runs/tiny_s1', '--split', 'valid', '--no-progress'], cwd);
  assert.equal(again.stdout, r.stdout);

  const c = runCli(['stratify', '--run', 'runs/tiny_s1', '--checkpoint', 'final', '--compare', 'runs/tiny-nll_s1', '--disc', 'quartiles', '--max-users', '20', '--user-sample', 'first', '--no-progress'], cwd);
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stdout, /Compare: other = runs\/tiny-nll_s1, rl\/final/);
  assert.match(c.stdout, /HR@10 other \| this-other/);
  assert.match(c.stdout, /Q4 d>=/);
  // Other samples, bins and --compare get their own files: nothing earlier is overwritten.
  const cJson = JSON.parse(fs.readFileSync(path.join(cwd, 'runs/tiny_s1/stratify/rl-final-test-n20-first-dquartiles-vs-tiny-nll_s1.json'), 'utf8'));
  assert.deepEqual([cJson.users, cJson.userSample, cJson.beam], [20, 'first', 12]); // --user-sample, recorded
  // The run's own sample (spread) is not named; another beam is.
  const s = runCli(['stratify', '--run', 'runs/tiny_s1', '--split', 'valid', '--max-users', '20', '--beam', '10', '--no-progress'], cwd);
  assert.equal(s.code, 0, s.stderr);
  const sJson = JSON.parse(fs.readFileSync(`${base}-beam10-n20.json`, 'utf8'));
  assert.deepEqual([sJson.users, sJson.userSample, sJson.beam], [20, 'spread', 10]);
  assert.equal(JSON.parse(fs.readFileSync(`${base}.json`, 'utf8')).users, 30); // the all-user table is untouched

  const p = runCli(['stratify', '--run', 'runs/tiny_s1', '--split', 'valid', '--difficulty', 'prob-quartiles', '--no-progress'], cwd);
  assert.equal(p.code, 0, p.stderr);
  assert.match(p.stdout, /## Table 2: by difficulty \(quartiles of log pi\(y\|x\)/);
  assert.match(p.stdout, /\| Q1 log p<-\d/);
  assert.equal(fs.readFileSync(`${base}-prob.md`, 'utf8'), p.stdout);
  assert.equal(fs.readFileSync(`${base}.md`, 'utf8'), r.stdout);
  const probJson = JSON.parse(fs.readFileSync(`${base}-prob.json`, 'utf8'));
  assert.ok(probJson.samples.every((x: { gtLogProb: number }) => x.gtLogProb < 0));

  const before = listFiles(path.join(cwd, 'runs'));
  const errors: [string[], RegExp][] = [
    [['--run', 'runs/nope'], /runs\/nope does not exist/],
    [['--run', 'runs/tiny_s1', '--compare', 'runs/other_s1'], /--compare: runs\/other_s1 was trained on other data.*data\.synthetic\.numItems/],
    [['--run', 'runs/tiny_s1', '--compare', 'runs/none'], /--compare: run folder runs\/none does not exist/],
    [['--run', 'runs/other_s1'], /ranker/],
    [['--run', 'runs/tiny_s1', '--checkpoint', 'step_99'], /checkpoint "step_99" not found/],
    [['--run', 'runs/tiny_s1', '--difficulty-bins', '5,1'], /--difficulty-bins must increase/],
    [['--run', 'runs/tiny_s1', '--beam', '0'], /--beam must be an integer >= 1/],
  ];
  for (const [args, msg] of errors) {
    const e = runCli(['stratify', ...args, '--no-progress'], cwd);
    assert.equal(e.code, 2, `${args.join(' ')}: ${e.stderr}`);
    assert.match(e.stderr, msg);
    assert.doesNotMatch(e.stderr, /at .*\.js:\d+/);
  }
  assert.deepEqual(listFiles(path.join(cwd, 'runs')), before);
});
