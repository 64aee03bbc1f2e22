/** Run-folder files are read through their format modules: damaged or foreign files are user errors naming the file. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { validateConfig } from '../../src/config/load.js';
import { UserError } from '../../src/errors.js';
import { readEvalReport } from '../../src/runs/evalReport.js';
import { readMeta } from '../../src/runs/meta.js';
import { Run } from '../../src/runs/run.js';
import { readStageRecord, resolveStageDir, writeStageRecord } from '../../src/runs/stages.js';
import { readUpstream, writeUpstream } from '../../src/runs/upstream.js';
import { tmpDir } from '../helpers/tmp.js';

const userError = (re: RegExp) => (e: unknown) => e instanceof UserError && re.test(e.message);

test('meta.json: a corrupt or foreign file names the file and what to do', () => {
  const run = Run.create(validateConfig({ name: 'm', runsDir: tmpDir() }), ['x']);
  assert.equal(readMeta(run.dir).status, 'running');
  const file = path.join(run.dir, 'meta.json');
  fs.writeFileSync(file, '{"status": "running",');
  assert.throws(() => readMeta(run.dir), userError(/meta\.json:1:\d+: invalid JSON .*run metadata/));
  assert.throws(() => Run.resume(run.dir, []), userError(/meta\.json/));
  fs.writeFileSync(file, JSON.stringify({ status: 'done' }));
  assert.throws(() => readMeta(run.dir), userError(/meta\.json: not a valid run metadata file \(meta\.json\) \(argv: .*and \d+ more\)\. It is written only by/));
  fs.rmSync(file);
  assert.throws(() => Run.open(run.dir), userError(/run metadata file \(meta\.json\) .*meta\.json is missing/));
});

test('stage.json and upstream.json round-trip; damaged ones are user errors', () => {
  const runDir = tmpDir();
  const cache = path.join(runDir, '..', '_stages', 'sft-abc');
  assert.equal(readStageRecord(runDir, 'sft'), null);
  assert.equal(resolveStageDir(runDir, 'sft'), path.join(runDir, 'sft'));
  writeStageRecord(runDir, 'sft', 'abc', cache);
  assert.deepEqual(readStageRecord(runDir, 'sft'), { stage: 'sft', hash: 'abc', dir: path.relative(runDir, cache) });
  assert.equal(resolveStageDir(runDir, 'sft'), path.resolve(cache));
  fs.writeFileSync(path.join(runDir, 'sft', 'stage.json'), '[]');
  assert.throws(() => resolveStageDir(runDir, 'sft'), userError(/stage\.json: not a valid stage record/));

  assert.deepEqual(readUpstream(runDir), {});
  writeUpstream(runDir, { data: 'd', sid: 's', sft: 'f' });
  assert.deepEqual(readUpstream(runDir), { data: 'd', sid: 's', sft: 'f' });
  fs.writeFileSync(path.join(runDir, 'upstream.json'), '{"data": 1}');
  assert.throws(() => readUpstream(runDir), userError(/upstream\.json: not a valid upstream record .*data: /));
});

test('an eval report with a NaN metric reads back as NaN; a truncated one is a user error', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'rl-best-test.json');
  fs.writeFileSync(
    file,
    JSON.stringify({
      run: dir, stage: 'rl', checkpoint: 'best', step: 3, split: 'test', users: 2, beam: 4, constrained: false, ks: [1],
      backend: 'cpu', seconds: 1, usersPerSec: 2, metrics: { 'hr@1': 0.5, 'true_utility@10': null }, popular: {}, createdAt: 'now', file,
    }),
  );
  const r = readEvalReport(file);
  assert.equal(r.metrics['hr@1'], 0.5);
  assert.ok(Number.isNaN(r.metrics['true_utility@10']));
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').slice(0, 40));
  assert.throws(() => readEvalReport(file), userError(/rl-best-test\.json:1:41: invalid JSON/));
});
