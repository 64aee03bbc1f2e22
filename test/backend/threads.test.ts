/**
 * wasm with more than one XNNPACK thread (config key `threads`, `--threads`; src/backend.ts,
 * startWasmThreadsShim): it really starts the threaded build under Node (the backend reports 2
 * threads and one pthread worker runs), and its results are bit-identical to the single-threaded
 * build's: XNNPACK splits a matMul's output into tiles across threads, and each output element is
 * still reduced by one thread in the same order. Checked on a matMul and three SFT AdamW steps
 * (losses, gradient norms, every parameter's bits). CI has 2 cores; nothing here is timed.
 *
 * The wasm module starts once per process, so each thread count runs in a child process
 * (test/helpers/wasmThreadsProbe.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../helpers/cli.js';
import { tmpDir, writeFile } from '../helpers/tmp.js';

const PROBE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'helpers', 'wasmThreadsProbe.js');

interface Probe {
  backend: string;
  threads: number;
  workers: number;
  matmul: { hash: string; first: number; last: number };
  steps: { loss: number; gradNorm: number }[];
  params: string[];
  leaked: number;
}

function probe(threads: number): Probe {
  return JSON.parse(execFileSync(process.execPath, [PROBE, String(threads)], { encoding: 'utf8', timeout: 120_000 })) as Probe;
}

test('wasm with 2 threads runs the threaded build and matches 1 thread bit for bit', () => {
  const one = probe(1);
  const two = probe(2);
  assert.equal(one.backend, 'wasm');
  assert.equal(one.threads, 1);
  assert.equal(one.workers, 0);
  assert.equal(two.backend, 'wasm');
  assert.equal(two.threads, 2, 'XNNPACK reports 2 threads');
  assert.equal(two.workers, 1, 'one pthread worker runs beside the main thread');
  for (const p of [one, two]) assert.equal(p.leaked, 0, 'no tensor left behind');
  // Bit-identical: the same float32 results, not merely close ones.
  assert.deepEqual(two.matmul, one.matmul);
  assert.deepEqual(two.steps, one.steps);
  assert.deepEqual(two.params, one.params);
  // The values themselves (tfjs 4.22 wasm; Rng seeds in the probe).
  assert.ok(Math.abs(one.matmul.first - -4.43776083) < 1e-6, `matmul[0] = ${one.matmul.first}`);
  const pinned = [
    [4.17884016, 0.58762664],
    [4.09157133, 0.43379477],
    [4.03310585, 0.49769109],
  ];
  one.steps.forEach((s, i) => {
    assert.ok(Math.abs(s.loss - pinned[i][0]) < 1e-6, `step ${i + 1} loss ${s.loss}`);
    assert.ok(Math.abs(s.gradNorm - pinned[i][1]) < 1e-6, `step ${i + 1} grad norm ${s.gradNorm}`);
  });
});

test('train --threads 2 prints and records the thread count; out-of-range counts are user errors', () => {
  const cwd = tmpDir();
  writeFile(
    cwd,
    'tiny.yaml',
    [
      'name: tiny',
      'data:',
      '  synthetic: { numItems: 40, numUsers: 30, numCategories: 4, minSeqLen: 5, maxSeqLen: 8 }',
      'sid: { embedding: latent, levels: 2, codebookSize: 8 }',
      'policy: { layers: 1, dim: 16, heads: 2, maxHistory: 5 }',
      'sft: { steps: 2, batchSize: 8, warmupSteps: 1 }',
      'eval: { every: 2, beam: 10, ks: [1, 10], maxUsers: 10, testMaxUsers: 10 }',
      '',
    ].join('\n'),
  );
  const r = runCli(['train', '--config', 'tiny.yaml', '--backend', 'wasm', '--threads', '2', '--until', 'sft', '--no-progress'], cwd);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /backend: wasm \(@tensorflow\/tfjs-backend-wasm\), 2 threads/);
  const meta = JSON.parse(fs.readFileSync(path.join(cwd, 'runs', 'tiny_s1', 'meta.json'), 'utf8'));
  assert.equal(meta.backend.name, 'wasm');
  assert.equal(meta.backend.threads, 2);
  // The config saved with the run holds the key (it does not name the SFT stage: COMPUTE_ONLY_KEYS).
  assert.match(fs.readFileSync(path.join(cwd, 'runs', 'tiny_s1', 'config.yaml'), 'utf8'), /^threads: 2$/m);

  for (const bad of ['0', '9', '1.5', 'two']) {
    const e = runCli(['train', '--config', 'tiny.yaml', '--backend', 'wasm', '--threads', bad, '--dry-run'], cwd);
    assert.equal(e.code, 2, `--threads ${bad}: ${e.stderr}`);
    assert.match(e.stderr, /threads/);
  }
});
