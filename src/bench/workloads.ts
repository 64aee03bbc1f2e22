/**
 * The policy's four hot workloads at given shapes, defined exactly as the PyTorch CPU reference
 * times them (scripts/torch_ref.py, docs/PERFORMANCE.md), so the two print comparable figures:
 *
 * - `sft_tokens_per_s`: one AdamW step of all-position next-token NLL on batch x (seq-1) tokens;
 * - `rollouts_per_s`: prompts x G samples of L tokens with a KV cache (prompt encoded once);
 * - `rl_samples_per_s`: one AdamW step of a policy-gradient loss -(mean_l log pi) * A over
 *   prompts x G complete sequences of seq tokens;
 * - `beam_users_per_s`: beam search of width `beam` over L levels for `prompts` prompts.
 *
 * Two differences are this project's design, not shortcuts, and are stated beside the figures:
 * the output head scores a level's K codes, not the whole vocabulary (src/model/policy.ts), and
 * the RL step scores the G completions against one copy of their prompt (the
 * reference re-encodes the prompt for each of the G sequences, as TRL does).
 *
 * Every workload ends in a read-back (the step's gradient norm, the sampled codes, the beams), so
 * the time covers the work on asynchronous backends (webgpu) too.
 */
import * as tf from '@tensorflow/tfjs';
import { validateConfig } from '../config/load.js';
import { beamSearch, policyDecoder, sample } from '../model/decoding.js';
import { Policy, buildPrompts, buildSequences, disposePrompts, disposeSequences, sidLayout } from '../model/policy.js';
import { Rng } from '../rng.js';
import { AdamW } from '../train/optimizer.js';

/** Shapes of the reference's flags (`torch_ref.py --layers ... --iters`). */
export interface BenchShapes {
  layers: number;
  dim: number;
  heads: number;
  /** L: SID levels. */
  levels: number;
  /** K: codes per level (vocabulary = L*K + 3 special tokens, as in the reference's 1027). */
  codebookSize: number;
  /** Items per training window: seq = 1 + items*L tokens (BOS + items), seq - 1 inputs. */
  items: number;
  /** SFT batch. */
  batch: number;
  /** G: samples per prompt (rollouts, RL). */
  G: number;
  beam: number;
  /** Prompts for rollouts, RL and beam search (prompt = BOS + items-1 items = seq - L tokens). */
  prompts: number;
  /** Timed repetitions after one warm-up (the reference's --iters). */
  iters: number;
}

/** Amazon Beauty (the reference's defaults): 2 layers, d 128, 4 heads, 4 x 256 SIDs (V 1027), seq 85, B 128. */
export const BEAUTY_SHAPES: BenchShapes = { layers: 2, dim: 128, heads: 4, levels: 4, codebookSize: 256, items: 21, batch: 128, G: 16, beam: 20, prompts: 32, iters: 5 };

/** A few seconds even on a software GPU (lavapipe): for checking that the bench runs. */
export const TINY_SHAPES: BenchShapes = { layers: 1, dim: 32, heads: 2, levels: 2, codebookSize: 16, items: 5, batch: 8, G: 4, beam: 5, prompts: 4, iters: 1 };

export const SHAPES: Record<string, BenchShapes> = { beauty: BEAUTY_SHAPES, tiny: TINY_SHAPES };

/** The reference's command-line flags for the same shapes. */
export function torchRefFlags(s: BenchShapes): string {
  const seq = 1 + s.items * s.levels;
  return `--layers ${s.layers} --dim ${s.dim} --heads ${s.heads} --vocab ${s.levels * s.codebookSize + 3} --seq ${seq} --batch ${s.batch} --G ${s.G} --L ${s.levels} --beam ${s.beam} --prompts ${s.prompts} --iters ${s.iters}`;
}

export interface WorkloadFigures {
  sft_tokens_per_s: number;
  rollouts_per_s: number;
  rl_samples_per_s: number;
  beam_users_per_s: number;
  /** Policy parameters (the head is per level: D x L*K). */
  params: number;
  /** Measured GFLOP/s of a 1024^3 float32 matMul on this backend. */
  matmul_gflops: number;
  /** Share of that peak the SFT step reaches, at 6 FLOP per parameter per token (attention not counted). */
  sft_share_of_peak: number;
}

/** Mean seconds of `iters` calls after one warm-up call (as the reference times). */
async function timeit(f: () => Promise<void>, iters: number): Promise<number> {
  await f();
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) await f();
  return (performance.now() - t0) / 1000 / iters;
}

/** A 1024^3 matMul's GFLOP/s (read back, so asynchronous backends are timed to completion). */
export async function matmulPeak(iters = 3): Promise<number> {
  const a = tf.randomNormal([1024, 1024]);
  const b = tf.randomNormal([1024, 1024]);
  const s = await timeit(async () => {
    const c = tf.matMul(a, b);
    const corner = tf.slice(c, [0, 0], [1, 1]); // one value read back: the product is complete
    c.dispose();
    await corner.data().finally(() => corner.dispose());
  }, iters);
  tf.dispose([a, b]);
  return (2 * 1024 ** 3) / s / 1e9;
}

/** Random L-level codes for `n` items (throughput does not depend on which). */
function randomCodes(s: BenchShapes, n: number, rng: Rng): Int32Array {
  return Int32Array.from({ length: n * s.levels }, () => rng.int(s.codebookSize));
}

export function benchPolicy(s: BenchShapes, seed = 0): Policy {
  const config = validateConfig({ policy: { layers: s.layers, dim: s.dim, heads: s.heads, dropout: 0, maxHistory: s.items - 1 } });
  return Policy.create(config.policy, sidLayout(Array(s.levels).fill(s.codebookSize)), new Rng(seed));
}

/**
 * SFT batches at shape `s`: `batch` windows of `items` random items over a catalog of 1,000
 * (their codes random): what one AdamW step of the SFT stage computes.
 */
export function sftBatch(s: BenchShapes, rng: Rng): { codes: Int32Array; windows: Int32Array[] } {
  const numItems = 1000;
  const codes = randomCodes(s, numItems, rng);
  const windows = Array.from({ length: s.batch }, () => Int32Array.from({ length: s.items }, () => rng.int(numItems)));
  return { codes, windows };
}

/** One SFT AdamW step (all-position NLL); returns the loss. */
export async function sftStep(policy: Policy, opt: AdamW, codes: Int32Array, windows: Int32Array[]): Promise<number> {
  const batch = buildSequences(policy.layout, codes, windows);
  try {
    const { value, grads } = tf.variableGrads(() => policy.sequenceLoss(batch, false), [...policy.params.values()]);
    const stats = await opt.step(grads, 1e-3, value as tf.Scalar);
    tf.dispose([value, ...Object.values(grads)]);
    return stats.loss!;
  } finally {
    disposeSequences(batch);
  }
}

/** The four workloads on the current backend. Every tensor made here is released. */
export async function runWorkloads(s: BenchShapes, log: (line: string) => void = () => {}): Promise<WorkloadFigures> {
  const rng = new Rng(1);
  const policy = benchPolicy(s);
  const opt = new AdamW(policy.params, { weightDecay: 0.01, gradClip: 0 });
  const L = s.levels;
  try {
    const peak = await matmulPeak(s === TINY_SHAPES ? 1 : 3);
    log(`matmul 1024^3: ${peak.toFixed(1)} GFLOP/s`);

    const { codes, windows } = sftBatch(s, rng);
    const tokens = s.batch * s.items * L; // inputs per row: BOS + items*L - 1 = seq - 1
    const tSft = await timeit(async () => void (await sftStep(policy, opt, codes, windows)), s.iters);
    log(`SFT step: ${(tSft * 1000).toFixed(0)} ms`);

    const decoder = policyDecoder(policy);
    const histories = Array.from({ length: s.prompts }, () => Int32Array.from({ length: s.items - 1 }, () => rng.int(1000)));
    const prompt = buildPrompts(policy.layout, codes, histories, s.items - 1); // [P, seq - L]
    let tRoll: number;
    let tBeam: number;
    let tRl: number;
    try {
      tRoll = await timeit(async () => void (await sample(decoder, prompt, { samples: s.G, temperature: 1, rng })), s.iters);
      log(`rollouts: ${(tRoll * 1000).toFixed(0)} ms`);
      tBeam = await timeit(async () => void (await beamSearch(decoder, prompt, { beam: s.beam })), s.iters);
      log(`beam: ${(tBeam * 1000).toFixed(0)} ms`);

      // RL: the policy-gradient step over prompts x G complete sequences.
      const comp = tf.tensor3d(randomCodes(s, s.prompts * s.G, rng), [s.prompts, s.G, L], 'int32'); // [P, G, L] codes
      const adv = tf.randomNormal([s.prompts, s.G], 0, 1, 'float32', 3); // [P, G]
      try {
        tRl = await timeit(async () => {
          const { value, grads } = tf.variableGrads(() => {
            const lp = policy.sequenceLogProbs(prompt, comp).logProbs; // [P, G, L]
            return tf.neg(tf.mean(tf.mul(tf.mean(lp, 2), adv))) as tf.Scalar;
          }, [...policy.params.values()]);
          await opt.step(grads, 1e-4, value as tf.Scalar);
          tf.dispose([value, ...Object.values(grads)]);
        }, s.iters);
        log(`RL step: ${(tRl * 1000).toFixed(0)} ms`);
      } finally {
        tf.dispose([comp, adv]);
      }
    } finally {
      disposePrompts(prompt);
    }
    const params = policy.numParams();
    const sftTok = tokens / tSft;
    return {
      sft_tokens_per_s: Math.round(sftTok),
      rollouts_per_s: Math.round((s.prompts * s.G) / tRoll),
      rl_samples_per_s: Math.round((s.prompts * s.G) / tRl),
      beam_users_per_s: Math.round((s.prompts / tBeam) * 10) / 10,
      params,
      matmul_gflops: Math.round(peak * 10) / 10,
      sft_share_of_peak: (6 * params * sftTok) / 1e9 / peak,
    };
  } finally {
    policy.dispose();
    opt.dispose();
  }
}

/** The figures as a table, with ratios against another set (e.g. PyTorch, or wasm) when given. */
export function workloadTable(label: string, f: WorkloadFigures, other?: { label: string; figures: Partial<WorkloadFigures> }): string {
  const rows: [string, keyof WorkloadFigures, string][] = [
    ['SFT step', 'sft_tokens_per_s', 'tokens/s'],
    ['rollouts (KV cache)', 'rollouts_per_s', 'rollouts/s'],
    ['RL step', 'rl_samples_per_s', 'samples/s'],
    ['beam search', 'beam_users_per_s', 'users/s'],
  ];
  const head = `| workload | unit | ${label} |${other ? ` ${other.label} | ratio |` : ''}`;
  const sep = `|---|---|---:|${other ? '---:|---:|' : ''}`;
  const lines = rows.map(([name, k, unit]) => {
    const mine = f[k];
    const theirs = other?.figures[k];
    const ratio = theirs ? (mine / theirs).toFixed(2) : '-';
    return `| ${name} | ${unit} | ${mine.toLocaleString('en-US')} |${other ? ` ${theirs?.toLocaleString('en-US') ?? '-'} | ${ratio} |` : ''}`;
  });
  return [head, sep, ...lines].join('\n');
}
