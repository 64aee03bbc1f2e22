/**
 * Memory: the pass estimate (hand-computed), the refusal before training on wasm, and the wasm
 * abort (simulated: a real one needs a 4 GiB heap) reported as a user error naming the settings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { validateConfig } from '../../src/config/load.js';
import { UserError } from '../../src/errors.js';
import { Run } from '../../src/runs/run.js';
import type { PreparedInputs } from '../../src/data/inputs.js';
import { checkTrainingMemory, estimateRl, estimateSft, explainWasmAbort, isWasmAbort } from '../../src/train/memory.js';
import { runPipeline } from '../../src/train/pipeline.js';
import { tmpDir } from '../helpers/tmp.js';

/** What the wasm module throws when malloc fails (emscripten's abort()). */
function wasmAbort(): Error {
  const RuntimeError = (globalThis as unknown as { WebAssembly: { RuntimeError: new (m: string) => Error } }).WebAssembly.RuntimeError;
  return new RuntimeError('Aborted(). Build with -sASSERTIONS for more info.');
}

const small = validateConfig({
  policy: { layers: 1, dim: 8, heads: 2, maxHistory: 9 },
  sft: { batchSize: 4 },
  rl: { batchSize: 3, numGenerations: 2 },
});

test('estimateSft: attention 10·layers·B·H·T², hidden 115·layers·B·T·D, logits 2·B·slots·ΣK (float32)', () => {
  // 2 levels x 10 slots = T 20 tokens; ΣK = 16.
  const e = estimateSft(small, 2, 16, 50, 100);
  assert.equal(e.rows, 4);
  assert.equal(e.tokens, 20);
  assert.equal(e.attentionBytes, 10 * 1 * 4 * 2 * 20 * 20 * 4); // 128,000
  assert.equal(e.otherBytes, 115 * 1 * 4 * 20 * 8 * 4 + 2 * 4 * 10 * 16 * 4); // 294,400 + 5,120
  // The longest training sequence caps the window (6 items = 12 tokens); users cap the batch.
  const short = estimateSft(small, 2, 16, 6, 3);
  assert.equal(short.tokens, 12);
  assert.equal(short.rows, 3);
  // A micro-batch of 1 divides it by the batch size.
  const micro = estimateSft(validateConfig({ ...JSON.parse(JSON.stringify(small)), sft: { batchSize: 4, microBatchSize: 1 } }), 2, 16, 50, 100);
  assert.equal(micro.totalBytes * 4, e.totalBytes);
});

test('estimateRl: prompt of 1 + maxHistory·L tokens, then G+1 completions of L tokens over prompt and themselves', () => {
  const e = estimateRl(small, 2, 16, 50);
  const Tp = 1 + 9 * 2;
  assert.equal(e.tokens, Tp);
  assert.equal(e.attentionBytes, 10 * 1 * 3 * 2 * Tp * Tp * 4 + 10 * 1 * 3 * 2 * 3 * 2 * (Tp + 2) * 4);
});

function fakeInputs(users: number, length: number, levels: number, K: number): PreparedInputs {
  return {
    splits: { train: Array.from({ length: users }, () => new Int32Array(length)) },
    sids: { levels, codebookSizes: Array(levels).fill(K) },
  } as unknown as PreparedInputs;
}

test('checkTrainingMemory refuses on wasm with the number and the settings to lower; logs it elsewhere', () => {
  const big = validateConfig({ policy: { layers: 4, dim: 64, heads: 8, maxHistory: 200 }, sft: { batchSize: 64 }, sid: { levels: 4 } });
  const inputs = fakeInputs(1000, 300, 4, 256);
  assert.throws(
    () => checkTrainingMemory(big, inputs, ['sft', 'ranker'], 'wasm', () => {}),
    (e: unknown) =>
      e instanceof UserError &&
      /sft: one pass of 64 rows x 804 tokens needs about 55\.1 GiB of activations .*more than the wasm backend's 4\.0 GiB heap/.test(e.message) &&
      /Lower sft\.microBatchSize, sft\.batchSize, policy\.maxHistory/.test(e.message),
  );
  const lines: string[] = [];
  const est = checkTrainingMemory(big, inputs, ['sft'], 'tensorflow', (l) => lines.push(l));
  assert.equal(est.length, 1);
  assert.match(lines[0], /^memory: sft: one pass of 64 rows/);
  // With micro-batches of 4 it fits (about 3.4 GiB): no error.
  const micro = validateConfig({ ...JSON.parse(JSON.stringify(big)), sft: { batchSize: 64, microBatchSize: 4 } });
  assert.doesNotThrow(() => checkTrainingMemory(micro, inputs, ['sft'], 'wasm', () => {}));
});

test('a wasm abort becomes a UserError naming the phase, the 4 GiB heap and the settings; other errors pass through', () => {
  assert.ok(isWasmAbort(wasmAbort()));
  assert.ok(!isWasmAbort(new Error('Aborted(). not wasm')));
  const e = explainWasmAbort(wasmAbort(), 'rl');
  assert.ok(e instanceof UserError);
  assert.match(e.message, /^rl: the wasm backend ran out of memory \(its heap cannot grow past 4\.0 GiB/);
  assert.match(e.message, /Lower rl\.microBatchSize, rl\.batchSize, rl\.numGenerations, policy\.maxHistory/);
  assert.match((explainWasmAbort(wasmAbort(), 'eval') as Error).message, /Lower eval\.batchSize, eval\.beam.*adagrpo eval --run/);
  assert.match(e.message, /continue with --resume/);
  const other = new TypeError('x');
  assert.equal(explainWasmAbort(other, 'sft'), other);
});

test('the pipeline reports a stage that aborts the wasm module as a user error, and the run as failed', async () => {
  const runsDir = tmpDir();
  const config = validateConfig({
    runsDir,
    backend: 'cpu',
    data: { processedDir: path.join(runsDir, 'processed'), synthetic: { numItems: 40, numUsers: 30, numCategories: 4, minSeqLen: 4, maxSeqLen: 9 } },
    sid: { levels: 2, codebookSize: 8, embedding: 'latent' },
  });
  const run = Run.create(config, []);
  await assert.rejects(
    runPipeline({
      run,
      until: 'sft',
      resume: false,
      signal: new AbortController().signal,
      log: () => {},
      progress: () => ({ update: () => {}, log: () => {}, stop: () => {} }),
      stages: {
        sft: async () => {
          throw wasmAbort();
        },
      },
    }),
    (e: unknown) => e instanceof UserError && /^sft: the wasm backend ran out of memory/.test(e.message),
  );
  assert.ok(fs.existsSync(path.join(run.dir, 'upstream.json')));
});
