/** `adagrpo baseline --model sasrec` through the real CLI on the tiny world: run folder, test reports, resume. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { readEvalReport } from '../../src/runs/evalReport.js';
import { readMetrics } from '../../src/runs/metrics.js';
import { runCli } from '../helpers/cli.js';
import { TINY_WORLD } from '../helpers/tiny.js';
import { tmpDir, writeFile } from '../helpers/tmp.js';

const CONFIG = TINY_WORLD + 'eval: { every: 10, beam: 10, ks: [1, 5, 10] }\nsasrec: { dim: 16, layers: 1, heads: 2, maxLen: 6, steps: 20, batchSize: 8, warmupSteps: 0, checkpointEvery: 10 }\n';

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
});
