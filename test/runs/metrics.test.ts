/** metrics.jsonl: typed rows, a torn last line skipped with a warning, damage elsewhere a user error, resume cut-back. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../../src/errors.js';
import { appendMetricsRow, meanOverRlSteps, metricsFile, readMetrics, truncateMetrics } from '../../src/runs/metrics.js';
import { tmpDir } from '../helpers/tmp.js';

function runWithRows(): string {
  const dir = tmpDir();
  appendMetricsRow(dir, 'sft', { kind: 'train', step: 10, loss: 3 });
  appendMetricsRow(dir, 'sft', { kind: 'valid', step: 10, 'hr@10': 0.1 });
  appendMetricsRow(dir, 'rl', { kind: 'valid', step: 0, 'hr@10': 0.1 });
  for (let s = 1; s <= 4; s++) appendMetricsRow(dir, 'rl', { kind: 'train', step: s, admission: s / 10, loss: Number.NaN });
  return dir;
}

test('every row has stage, kind, step and time; a NaN comes back as null; filters by stage and kind', () => {
  const dir = runWithRows();
  const rl = readMetrics(dir, { stage: 'rl', kind: 'train' });
  assert.deepEqual(rl.map((r) => r.step), [1, 2, 3, 4]);
  assert.equal(rl[0].loss, null);
  assert.equal(rl[0].stage, 'rl');
  assert.ok(typeof rl[0].time === 'string');
  assert.equal(readMetrics(dir, { stage: 'sft' }).length, 2);
  // A row that the reader would refuse is never written.
  assert.throws(() => appendMetricsRow(dir, 'rl', { kind: 'train', step: -1 }), /does not fit/);
});

test('a torn last line (a crash mid-append) is skipped with a warning naming file:line', () => {
  const dir = runWithRows();
  fs.appendFileSync(metricsFile(dir), '{"stage":"rl","kind":"train","st');
  const warnings: string[] = [];
  const rows = readMetrics(dir, { warn: (l) => warnings.push(l) });
  assert.equal(rows.length, 7);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /metrics\.jsonl:8: incomplete last line/);
});

test('a damaged or foreign row elsewhere is a user error naming file:line', () => {
  const dir = runWithRows();
  const lines = fs.readFileSync(metricsFile(dir), 'utf8').split('\n');
  lines[2] = '{"stage":"rl","step":0}'; // no kind: not a row of this format
  fs.writeFileSync(metricsFile(dir), lines.join('\n'));
  assert.throws(() => readMetrics(dir), (e: unknown) => e instanceof UserError && /metrics\.jsonl:3: not a metrics row \(kind/.test(e.message));
  lines[2] = 'not json';
  fs.writeFileSync(metricsFile(dir), lines.join('\n'));
  assert.throws(() => readMetrics(dir), (e: unknown) => e instanceof UserError && /metrics\.jsonl:3: not a JSON row/.test(e.message));
});

test('truncateMetrics cuts a stage back to a step, drops the torn tail, keeps other stages', () => {
  const dir = runWithRows();
  fs.appendFileSync(metricsFile(dir), '{"torn');
  assert.equal(truncateMetrics(dir, 'rl', 2), 2);
  assert.deepEqual(readMetrics(dir, { stage: 'rl' }).map((r) => `${r.kind}${r.step}`), ['valid0', 'train1', 'train2']);
  assert.equal(readMetrics(dir, { stage: 'sft' }).length, 2);
  assert.ok(fs.readFileSync(metricsFile(dir), 'utf8').endsWith('}\n'));
  // -1: the stage starts over, every row of it goes.
  assert.equal(truncateMetrics(dir, 'rl', -1), 3);
  assert.equal(readMetrics(dir, { stage: 'rl' }).length, 0);
  // Nothing to cut: the file is left alone.
  const before = fs.statSync(metricsFile(dir)).mtimeMs;
  assert.equal(truncateMetrics(dir), 0);
  assert.equal(fs.statSync(metricsFile(dir)).mtimeMs, before);
  assert.equal(truncateMetrics(path.join(dir, 'absent')), 0);
});

test('meanOverRlSteps counts each step once (its last row): the admission rate the controls match', () => {
  const dir = runWithRows();
  appendMetricsRow(dir, 'rl', { kind: 'train', step: 4, admission: 0.8 }); // step 4 again, as after an old resume
  // steps 1..4 with admissions .1 .2 .3 .8 → mean .35
  assert.ok(Math.abs(meanOverRlSteps(readMetrics(dir), 'admission') - 0.35) < 1e-12);
  assert.ok(Number.isNaN(meanOverRlSteps([], 'admission')));
});
