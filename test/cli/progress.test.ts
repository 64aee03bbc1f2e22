/**
 * Plain progress lines (--no-progress, or no terminal): a start line, then a regular cadence of
 * lines with done/total, the latest fields, the rate and an ETA, and a final line; numbers
 * formatted one way. A fake clock pins the cadence; the CLI test checks it without a TTY.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createProgress, formatDuration, formatFields, formatNumber } from '../../src/cli/progress.js';
import { runCli } from '../helpers/cli.js';
import { TINY_WORLD } from '../helpers/tiny.js';
import { tmpDir, writeFile } from '../helpers/tmp.js';

test('formatNumber: integers as they are, >= 1000 rounded, else 4 significant digits without trailing zeros', () => {
  assert.equal(formatNumber(998), '998');
  assert.equal(formatNumber(998.04), '998');
  assert.equal(formatNumber(12345.6), '12346');
  assert.equal(formatNumber(3.41234), '3.412');
  assert.equal(formatNumber(3.4), '3.4');
  assert.equal(formatNumber(0.002), '0.002');
  assert.equal(formatNumber(0.000123456), '0.0001235');
  assert.equal(formatNumber(NaN), 'NaN');
  assert.equal(formatFields({ loss: 3.41234, 'tok/s': 998, lr: 0.002 }), 'loss 3.412 tok/s 998 lr 0.002');
  assert.equal(formatDuration(12.4), '12s');
  assert.equal(formatDuration(185), '3m05s');
  assert.equal(formatDuration(3725), '1h02m');
});

test('plain cadence: a start line, then at most one line per interval with rate and ETA, and the last step', () => {
  let t = 0;
  const out: string[] = [];
  const p = createProgress('sft', 100, { plain: true, plainEveryMs: 1000, now: () => t, stream: { write: (s: string) => (out.push(s), true) } });
  // One step every 100 ms; fields every 10 steps (as SFT logs its loss).
  for (let step = 1; step <= 100; step++) {
    t = step * 100;
    p.update(step, step % 10 === 0 ? { loss: 4 - step / 100, 'tok/s': 5000 + step } : undefined);
  }
  p.stop();
  assert.equal(out[0], 'sft: started (100 steps)\n');
  // The first update (step 1, t = 100 ms) starts the rate clock: 10 steps/s from then on.
  assert.equal(out[1], 'sft 10/100 (10%) loss 3.9 tok/s 5010 | 10 steps/s, elapsed 1s, ETA 9s\n');
  assert.equal(out[2], 'sft 20/100 (20%) loss 3.8 tok/s 5020 | 10 steps/s, elapsed 2s, ETA 8s\n');
  assert.equal(out.length, 11, out.join(''));
  assert.equal(out[10], 'sft 100/100 (100%) loss 3 tok/s 5100 | 10 steps/s, elapsed 10s\n');
});

test('plain cadence: stop prints the step reached when the last line is older (an interrupted or early-ended phase)', () => {
  let t = 0;
  const out: string[] = [];
  const p = createProgress('test sft/best', 300, { plain: true, plainEveryMs: 10_000, now: () => t, unit: 'users', stream: { write: (s: string) => (out.push(s), true) } });
  t = 500;
  p.update(64);
  t = 2500;
  p.update(128);
  p.stop();
  p.stop();
  assert.deepEqual(out, ['test sft/best: started (300 users)\n', 'test sft/best 128/300 users (42%) | 32 users/s, elapsed 3s, ETA 5s\n']);
});

test('train --no-progress without a TTY: data, SFT and test-evaluation phases report at the --log-every cadence', () => {
  const cwd = tmpDir();
  writeFile(cwd, 'tiny.yaml', TINY_WORLD + 'sft: { steps: 20, batchSize: 8, checkpointEvery: 10 }\neval: { every: 10, beam: 10, ks: [1, 5, 10] }\n');
  const r = runCli(['train', '--config', 'tiny.yaml', '--no-progress', '--log-every', '0', '--until', 'sft'], cwd);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stderr.split('\n');
  assert.ok(lines.includes('sft: started (20 steps)'), r.stderr);
  // Every line of the SFT phase: step/total, percent, loss, throughput, rate and ETA, formatted one way.
  const sft = lines.filter((l) => /^sft \d+\/20 /.test(l));
  assert.ok(sft.length >= 2, r.stderr);
  const at10 = sft.find((l) => l.startsWith('sft 10/20 (50%) '));
  assert.match(at10 ?? '', /^sft 10\/20 \(50%\) loss \d+(\.\d{1,3})? tok\/s \d+ \| [\d.]+ steps\/s, elapsed \d+s, ETA \d+s$/);
  assert.doesNotMatch(r.stderr, /\d\.000\b/, 'no padded decimals such as 998.000');
  // The test evaluation after training says what it does and how far it got.
  assert.ok(lines.some((l) => /^test sft\/best: started \(30 users\)$/.test(l)), r.stderr);
  assert.ok(lines.some((l) => /^test sft\/best 30\/30 users \(100%\) \| [\d.]+ users\/s/.test(l)), r.stderr);
  // Data preparation and SID building say what they do.
  assert.ok(lines.some((l) => l.startsWith('data: preparing synthetic')), r.stderr);
  assert.ok(lines.some((l) => /^semantic IDs: residual k-means 2 x 8 2\/2 levels \(100%\)/.test(l)), r.stderr);
});
