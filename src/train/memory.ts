/**
 * Memory of a training pass, estimated before a stage starts, and the out-of-memory abort of the
 * wasm backend turned into a message that says what to lower.
 *
 * The wasm backend's heap is one WebAssembly.Memory that can grow to 4 GiB and no further; when
 * an allocation fails the module calls abort() and every later call fails ("RuntimeError:
 * Aborted()"). Nothing can be saved after that, so the aim is to refuse up front when the
 * activations alone cannot fit, and otherwise to name the settings when the abort happens.
 *
 * The estimate models the wasm heap's growth over one forward/backward pass: tfjs keeps every
 * intermediate of the pass (the forward tensors the tape saves, and the backward's own until the
 * gradients are complete), so per layer it counts ATTENTION_TENSORS [B, H, T, T] float32
 * tensors and HIDDEN_PER_TOKEN float32 values per token and model dimension, plus two
 * [B*slots, K_l] logit tensors per SID level. The two factors are fitted to the heap growth that
 * `node dist/bench/memory.js <batch> <maxHistory> [layers] [heads]` measures (6 shapes with T up
 * to 804 tokens, dim 128; docs/YOUR-DATA.md has the figures): the estimate is within about 15% of
 * them. Weights, optimizer state and heap fragmentation come on top, so a pass estimated close to
 * the 4 GiB ceiling may still abort.
 */
import * as tf from '@tensorflow/tfjs';
import type { Config } from '../config/schema.js';
import { UserError } from '../errors.js';
import type { PreparedInputs } from '../data/inputs.js';

/** The wasm heap's maximum (WebAssembly.Memory of 65,536 pages of 64 KiB). */
export const WASM_HEAP_BYTES = 4 * 1024 ** 3;
const F32 = 4;
/** [B, H, T, T] float32 tensors alive per layer at the peak of a pass (fitted, see above). */
export const ATTENTION_TENSORS = 10;
/** float32 values per token and model dimension alive per layer at the peak (fitted, see above). */
export const HIDDEN_PER_TOKEN = 115;

export interface PassEstimate {
  stage: 'sft' | 'rl';
  /** Rows of one forward/backward pass (the micro-batch). */
  rows: number;
  /** Longest token sequence attended over. */
  tokens: number;
  attentionBytes: number;
  otherBytes: number;
  totalBytes: number;
  /** Settings that lower it, as config keys. */
  lower: string[];
}

export function gib(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(bytes < 1024 ** 3 ? 2 : 1)} GiB`;
}

/** Causal self-attention and hidden activations of `layers` blocks over [B, T] tokens. */
function blockBytes(B: number, T: number, layers: number, heads: number, dim: number): { attention: number; hidden: number } {
  return { attention: ATTENTION_TENSORS * layers * B * heads * T * T * F32, hidden: HIDDEN_PER_TOKEN * layers * B * T * dim * F32 };
}

/**
 * SFT: one pass over `min(batchSize, microBatchSize, users)` windows of up to maxHistory+1 items
 * (the longest training sequence caps it).
 */
export function estimateSft(config: Config, levels: number, codebookSum: number, longestTrain: number, users: number): PassEstimate {
  const p = config.policy;
  const batch = Math.min(config.sft.batchSize, users); // an epoch cannot batch more users than it has
  const B = config.sft.microBatchSize > 0 ? Math.min(config.sft.microBatchSize, batch) : batch;
  const slots = Math.max(1, Math.min(p.maxHistory + 1, longestTrain));
  const T = slots * levels;
  const b = blockBytes(B, T, p.layers, p.heads, p.dim);
  const logits = 2 * B * slots * codebookSum * F32;
  return {
    stage: 'sft',
    rows: B,
    tokens: T,
    attentionBytes: b.attention,
    otherBytes: b.hidden + logits,
    totalBytes: b.attention + b.hidden + logits,
    lower: ['sft.microBatchSize', 'sft.batchSize', 'policy.maxHistory'],
  };
}

/**
 * RL update: one pass over `min(batchSize, microBatchSize)` prompts of up to maxHistory items,
 * then G+1 completions of L tokens that attend to the prompt and to themselves.
 */
export function estimateRl(config: Config, levels: number, codebookSum: number, longestTrain: number): PassEstimate {
  const p = config.policy;
  const r = config.rl;
  const B = r.microBatchSize > 0 ? Math.min(r.microBatchSize, r.batchSize) : r.batchSize;
  const Tp = 1 + Math.min(p.maxHistory, Math.max(0, longestTrain - 1)) * levels;
  const prompt = blockBytes(B, Tp, p.layers, p.heads, p.dim);
  const C = r.numGenerations + 1;
  const completionAttention = ATTENTION_TENSORS * p.layers * B * p.heads * C * levels * (Tp + levels) * F32;
  const completionHidden = HIDDEN_PER_TOKEN * p.layers * B * C * levels * p.dim * F32;
  const logits = 2 * B * C * codebookSum * F32;
  const attention = prompt.attention + completionAttention;
  const other = prompt.hidden + completionHidden + logits;
  return {
    stage: 'rl',
    rows: B,
    tokens: Tp,
    attentionBytes: attention,
    otherBytes: other,
    totalBytes: attention + other,
    lower: ['rl.microBatchSize', 'rl.batchSize', 'rl.numGenerations', 'policy.maxHistory'],
  };
}

export function describeEstimate(e: PassEstimate): string {
  return (
    `${e.stage}: one pass of ${e.rows} rows x ${e.tokens} tokens needs about ${gib(e.totalBytes)} of activations ` +
    `(attention ${gib(e.attentionBytes)}, the rest ${gib(e.otherBytes)})`
  );
}

/**
 * Estimate the passes of the stages about to train; refuse (UserError) on wasm when one cannot
 * fit the 4 GiB heap, naming the number and the settings to lower. Returns the estimates.
 */
export function checkTrainingMemory(
  config: Config,
  inputs: PreparedInputs,
  stages: readonly string[],
  backend: string,
  log: (line: string) => void,
): PassEstimate[] {
  const levels = inputs.sids.levels;
  const codebookSum = inputs.sids.codebookSizes.reduce((a, b) => a + b, 0);
  const longest = inputs.splits.train.reduce((m, s) => Math.max(m, s.length), 0);
  const users = inputs.splits.train.reduce((n, s) => n + (s.length > 0 ? 1 : 0), 0);
  const out: PassEstimate[] = [];
  if (stages.includes('sft')) out.push(estimateSft(config, levels, codebookSum, longest, users));
  if (stages.includes('rl')) out.push(estimateRl(config, levels, codebookSum, longest));
  for (const e of out) {
    if (backend === 'wasm' && e.totalBytes > WASM_HEAP_BYTES) {
      throw new UserError(
        `${describeEstimate(e)}, more than the wasm backend's ${gib(WASM_HEAP_BYTES)} heap. ` +
          `Lower ${e.lower.join(', ')} (a microBatchSize accumulates gradients over smaller passes: the same step, less memory).`,
      );
    }
    const close = backend === 'wasm' && e.totalBytes > 0.75 * WASM_HEAP_BYTES;
    if (e.totalBytes > WASM_HEAP_BYTES / 4) {
      log(
        `memory: ${describeEstimate(e)}${backend === 'wasm' ? ` of the ${gib(WASM_HEAP_BYTES)} wasm heap` : ''}` +
          (close ? `; close to the ceiling, it may abort: lower ${e.lower.join(', ')}` : ''),
      );
    }
  }
  return out;
}

/** The wasm module's abort (allocation failure, or any call after one). */
export function isWasmAbort(e: unknown): boolean {
  // WebAssembly.RuntimeError is named RuntimeError; Node's lib types do not declare the namespace.
  return e instanceof Error && e.name === 'RuntimeError' && /^Aborted\(/.test(e.message);
}

/** The settings that bound memory in each phase, for the abort message. */
const LOWER: Record<string, string[]> = {
  sft: ['sft.microBatchSize', 'sft.batchSize', 'policy.maxHistory'],
  ranker: ['ranker.microBatchSize', 'ranker.batchSize', 'ranker.maxHistory'],
  rl: ['rl.microBatchSize', 'rl.batchSize', 'rl.numGenerations', 'policy.maxHistory'],
  eval: ['eval.batchSize', 'eval.beam', 'policy.maxHistory'],
};

/**
 * A wasm abort during `phase` as a UserError that says what happened and what to lower; any
 * other error unchanged. The process cannot continue with the backend after an abort.
 */
export function explainWasmAbort(e: unknown, phase: 'sft' | 'ranker' | 'rl' | 'eval'): unknown {
  if (!isWasmAbort(e)) return e;
  const usedBytes = (() => {
    try {
      return tf.memory().numBytes;
    } catch {
      return NaN;
    }
  })();
  const next =
    phase === 'eval'
      ? 'The trained checkpoints are kept: evaluate them with `adagrpo eval --run <run folder> --max-users N` (or a smaller --beam).'
      : 'Then continue with --resume (a new microBatchSize is accepted there; finished stages are reused).';
  return new UserError(
    `${phase}: the wasm backend ran out of memory (its heap cannot grow past ${gib(WASM_HEAP_BYTES)}; the module aborted` +
      `${Number.isFinite(usedBytes) && usedBytes > 0 ? ` with ${gib(usedBytes)} of tensors alive` : ''}). ` +
      `Lower ${LOWER[phase].join(', ')}${phase === 'eval' ? '' : ' (microBatchSize keeps the step and needs less memory)'}. ${next}`,
  );
}
