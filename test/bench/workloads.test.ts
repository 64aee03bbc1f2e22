/**
 * The bench's workloads are the PyTorch reference's (torch_ref.py): same shapes, same token
 * counts, and they run and release their tensors. No timing is asserted (timing is `npm run bench`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend.js';
import { BEAUTY_SHAPES, TINY_SHAPES, benchPolicy, runWorkloads, sftBatch, torchRefFlags, workloadTable } from '../../src/bench/workloads.js';
import { buildPrompts, buildSequences, disposePrompts, disposeSequences } from '../../src/model/policy.js';
import { Rng } from '../../src/rng.js';

test('Beauty shapes are the reference defaults: 84 input tokens per row, 81-token prompts', async () => {
  assert.equal(torchRefFlags(BEAUTY_SHAPES), '--layers 2 --dim 128 --heads 4 --vocab 1027 --seq 85 --batch 128 --G 16 --L 4 --beam 20 --prompts 32 --iters 5');
  await initBackend('wasm');
  const s = BEAUTY_SHAPES;
  const policy = benchPolicy(s);
  try {
    assert.equal(policy.layout.vocabSize, 1027);
    const { codes, windows } = sftBatch(s, new Rng(1));
    const batch = buildSequences(policy.layout, codes, windows);
    // torch_ref: x[:, :-1] of [128, 85] = 128 x 84 input tokens, every one a target.
    assert.deepEqual(batch.tokens.shape, [128, 84]);
    assert.equal(batch.realTokens, 128 * 84);
    disposeSequences(batch);
    const prompt = buildPrompts(policy.layout, codes, windows.slice(0, s.prompts).map((w) => w.subarray(0, s.items - 1)), s.items - 1);
    assert.equal(prompt.length, 85 - 4); // prompt_len = seq - L
    disposePrompts(prompt);
  } finally {
    policy.dispose();
  }
});

test('the four workloads run at tiny shapes, give finite positive figures and leak no tensors', async () => {
  await initBackend('wasm');
  const before = tf.memory().numTensors;
  const f = await runWorkloads(TINY_SHAPES);
  assert.equal(tf.memory().numTensors, before);
  for (const k of ['sft_tokens_per_s', 'rollouts_per_s', 'rl_samples_per_s', 'beam_users_per_s', 'matmul_gflops', 'sft_share_of_peak'] as const) {
    assert.ok(Number.isFinite(f[k]) && f[k] > 0, `${k} = ${f[k]}`);
  }
  const table = workloadTable('adagrpo wasm', f, { label: 'PyTorch', figures: { sft_tokens_per_s: f.sft_tokens_per_s * 2 } });
  assert.match(table, /\| SFT step \| tokens\/s \| [\d,]+ \| [\d,]+ \| 0\.50 \|/);
  assert.match(table, /\| beam search \| users\/s \| [\d.,]+ \| - \| - \|/);
});
