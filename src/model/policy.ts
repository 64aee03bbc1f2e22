/**
 * The generative-retrieval policy (docs/METHOD.md 2.2): a decoder-only transformer over SID tokens,
 * pre-LayerNorm, causal self-attention, learned token + position + SID-level embeddings, tied or
 * untied output head.
 *
 * Sequence layout (left padded so that every prompt ends at the same column):
 *   PAD..PAD BOS h1_0 h1_1 .. h1_{L-1} h2_0 .. hn_{L-1} | y_0 y_1 .. y_{L-1}
 * Positions count from BOS = 0, so the target's level-l token sits at position promptLen + l. The
 * hidden state at a token predicts the next token: BOS and every last-level token predict a
 * level-0 code, a level-l token predicts level l+1.
 *
 * Output: per-level logits. The position that predicts level l is scored only against level l's
 * K_l codes (a [D, K_l] slice of the head), never the whole vocabulary: a level-l prediction
 * can only be a level-l code by construction, and the head costs D*K_l instead of D*V per token.
 * Log-probs and sampled/decoded values are therefore over codes, not token ids.
 *
 * Shared-prompt scoring: `prefill` runs the prompt once and keeps per-layer keys/values; `extend`
 * runs S completions per prompt against that cache (queries of all S completions attend to the
 * one copy of the prompt's keys, nothing is tiled). Decoding (beam search, sampling) and the RL
 * stage's `sequenceLogProbs` both use this path.
 */
import * as tf from '@tensorflow/tfjs';
import type { PolicyConfig } from '../config/schema.js';
import { UserError } from '../errors.js';
import type { Rng } from '../rng.js';
import { BOS, PAD, Vocab } from '../data/sid/vocab.js';
import { MASKED, dropout, entropy, gelu, layerNorm, linear, normalInit, pick, type Params } from './layers.js';

/** Token ids of the SID vocabulary, as the policy needs them. */
export interface SidLayout {
  /** L */
  levels: number;
  /** K_l per level. */
  codebookSizes: number[];
  /** Token id of (level l, code 0); level l's codes are contiguous. */
  levelOffset: number[];
  vocabSize: number;
  pad: number;
  bos: number;
}

/** The policy's view of the SID vocabulary (src/data/sid/vocab.ts), rebuilt from the codebook sizes alone so a checkpoint can restore it. */
export function sidLayout(codebookSizes: readonly number[]): SidLayout {
  const vocab = new Vocab(codebookSizes);
  return {
    levels: vocab.levels,
    codebookSizes: [...vocab.codebookSizes],
    levelOffset: [...vocab.offsets.slice(0, vocab.levels)],
    vocabSize: vocab.size,
    pad: PAD,
    bos: BOS,
  };
}

/** Options of a forward pass. `rng` given = training mode (dropout on, masks drawn from it). */
export interface ForwardOptions {
  rng?: Rng | null;
}

/** A batch of prompts (BOS + history), left padded. Build with buildPrompts, free with disposePrompts. */
export interface PromptBatch {
  batch: number;
  /** T, padded prompt length. */
  length: number;
  tokens: tf.Tensor2D; // int32 [B, T]
  positions: tf.Tensor2D; // int32 [B, T]
  /** 0 for real keys, MASKED for padding. */
  keyBias: tf.Tensor4D; // float32 [B, 1, 1, T]
  /** Real prompt length = position of the target's level-0 token. */
  promptLen: tf.Tensor1D; // int32 [B]
}

/** Training sequences (BOS + items), left padded to whole items. Build with buildSequences. */
export interface SequenceBatch {
  batch: number;
  /** Item slots per row (the longest window). */
  slots: number;
  /** Input tokens: BOS + every item but the last token of the last item. */
  tokens: tf.Tensor2D; // int32 [B, slots*L]
  positions: tf.Tensor2D; // int32 [B, slots*L]
  keyBias: tf.Tensor4D; // float32 [B, 1, 1, slots*L]
  /** Target codes of each slot; 0 in padding slots. */
  targets: tf.Tensor3D; // int32 [B, slots, L]
  /** 1 for a real item slot, 0 for padding. */
  weights: tf.Tensor2D; // float32 [B, slots]
  /** Number of real item slots (Σ weights). */
  items: number;
  /** Non-padding input tokens: throughput is reported in these. */
  realTokens: number;
}

/** Per-layer keys (already transposed for a plain matMul) and values of a prompt. */
export interface PromptCache {
  batch: number;
  length: number;
  kT: tf.Tensor[]; // per layer [B, H, dh, T]
  v: tf.Tensor[]; // per layer [B, H, T, dh]
  keyBias: tf.Tensor; // [B, 1, 1, T]
  promptLen: tf.Tensor1D; // int32 [B]
  /** Final hidden state at the prompt's last token: it predicts level 0. */
  last: tf.Tensor2D; // [B, D]
}

/** Keys/values of tokens already appended after the prompt, per completion. */
export interface CompletionCache {
  k: tf.Tensor[]; // per layer [B, H, S, m, dh]
  v: tf.Tensor[]; // per layer [B, H, S, m, dh]
}

export interface CompletionScores {
  /** log pi(code_l | prompt, code_<l) at temperature 1. */
  logProbs: tf.Tensor3D; // [B, S, L]
  /** Entropy (nats) of pi(. | prompt, code_<l) over level l's codes. */
  entropies: tf.Tensor3D; // [B, S, L]
}

let instances = 0;

export class Policy {
  /** Trainable weights by name ('tok_emb', 'h0.attn.q.w', ...). */
  readonly params: Params;
  readonly dim: number;
  readonly heads: number;
  readonly maxPositions: number;
  /** int32 [V]: index into lvl_emb (0 = special token, l+1 = level l). */
  private readonly tokenLevel: tf.Tensor1D;
  /** Head columns of level l start here (Σ_{j<l} K_j). */
  private readonly headOffset: number[];

  private constructor(
    readonly config: PolicyConfig,
    readonly layout: SidLayout,
    params: Params,
  ) {
    this.params = params;
    this.dim = config.dim;
    this.heads = config.heads;
    this.maxPositions = maxPositions(config, layout);
    const lv = new Int32Array(layout.vocabSize);
    layout.codebookSizes.forEach((k, l) => lv.fill(l + 1, layout.levelOffset[l], layout.levelOffset[l] + k));
    this.tokenLevel = tf.tensor1d(lv, 'int32');
    this.headOffset = [];
    let o = 0;
    for (const k of layout.codebookSizes) {
      this.headOffset.push(o);
      o += k;
    }
  }

  /** A freshly initialised policy (GPT-2 init: N(0, 0.02), residual projections scaled by 1/sqrt(2*layers)). */
  static create(config: PolicyConfig, layout: SidLayout, rng: Rng): Policy {
    const shapes = paramShapes(config, layout);
    const id = instances++;
    const params: Params = new Map();
    const residStd = 0.02 / Math.sqrt(2 * config.layers);
    for (const [name, shape] of shapes) {
      let init: tf.Tensor;
      if (name.endsWith('.g')) init = tf.ones(shape);
      else if (name.endsWith('.b')) init = tf.zeros(shape);
      else init = normalInit(rng, shape, name.endsWith('proj.w') ? residStd : 0.02);
      // tfjs variable names are global: a per-instance prefix lets a policy and its frozen
      // reference (RL) coexist. The map key stays the plain name.
      params.set(name, tf.variable(init, true, `policy${id}/${name}`));
      init.dispose();
    }
    return new Policy(config, layout, params);
  }

  /**
   * A policy whose weights are copied from `tensors` (a checkpoint); every weight must be present
   * with its shape. Extra tensors (optimizer moments) are ignored.
   */
  static fromTensors(config: PolicyConfig, layout: SidLayout, tensors: Map<string, tf.Tensor>, where = 'checkpoint', trainable = true): Policy {
    const shapes = paramShapes(config, layout);
    const problems: string[] = [];
    for (const [name, shape] of shapes) {
      const t = tensors.get(name);
      if (!t) problems.push(`missing ${name}`);
      else if (t.shape.join(',') !== shape.join(',')) problems.push(`${name} has shape [${t.shape}], the config needs [${shape}]`);
    }
    if (problems.length > 0) {
      throw new UserError(
        `${where} does not match the policy config (policy.* or the SIDs changed): ${problems.slice(0, 5).join('; ')}` +
          `${problems.length > 5 ? `; and ${problems.length - 5} more` : ''}. Evaluate with the run's own config.yaml.`,
      );
    }
    const id = instances++;
    const params: Params = new Map();
    for (const [name] of shapes) {
      // tf.variable shares the data of its initial value: a clone keeps the caller's tensors independent.
      const init = tensors.get(name)!.clone();
      params.set(name, tf.variable(init, trainable, `policy${id}/${name}`));
      init.dispose();
    }
    return new Policy(config, layout, params);
  }

  numParams(): number {
    let n = 0;
    for (const v of this.params.values()) n += v.size;
    return n;
  }

  /** Weight decay applies to matrices and embeddings, not to biases and LayerNorm gains (nanoGPT). */
  static noDecay(name: string): boolean {
    return name.endsWith('.b') || name.endsWith('.g');
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    this.tokenLevel.dispose();
  }

  private p(name: string): tf.Variable {
    return this.params.get(name)!;
  }

  /** token + position + level embeddings: tokens/positions int32 [...] -> [..., D]. */
  private embed(tokens: tf.Tensor, positions: tf.Tensor): tf.Tensor {
    const shape = tokens.shape;
    const flatTok = tf.reshape(tokens, [-1]);
    const x = tf.add(
      tf.add(tf.gather(this.p('tok_emb'), flatTok), tf.gather(this.p('pos_emb'), tf.reshape(positions, [-1]))),
      tf.gather(this.p('lvl_emb'), tf.gather(this.tokenLevel, flatTok)),
    );
    return tf.reshape(x, [...shape, this.dim]);
  }

  /** Position-wise MLP with its residual: x [N, D] -> [N, D]. */
  private mlp(x: tf.Tensor, i: number, rng: Rng | null | undefined): tf.Tensor {
    const h = layerNorm(x, this.p(`h${i}.ln2.g`), this.p(`h${i}.ln2.b`));
    const y = linear(gelu(linear(h, this.p(`h${i}.mlp.fc.w`), this.p(`h${i}.mlp.fc.b`))), this.p(`h${i}.mlp.proj.w`), this.p(`h${i}.mlp.proj.b`));
    return tf.add(x, dropout(y, this.config.dropout, rng));
  }

  /**
   * Queries, keys and values of rows x [B*N, D], each [B, N, H, dh] flattened to [B*N, D]. The
   * query is pre-scaled by 1/sqrt(dh). Three matMuls rather than one [D, 3D] and a split: on
   * wasm the split copies cost more than the extra calls.
   */
  private qkv(x: tf.Tensor, i: number): [tf.Tensor, tf.Tensor, tf.Tensor] {
    const h = layerNorm(x, this.p(`h${i}.ln1.g`), this.p(`h${i}.ln1.b`));
    const proj = (w: string) => linear(h, this.p(`h${i}.attn.${w}.w`), this.p(`h${i}.attn.${w}.b`));
    return [tf.mul(proj('q'), 1 / Math.sqrt(this.dim / this.heads)), proj('k'), proj('v')];
  }

  /** [B*N, D] -> [B, H, N, dh] (or, transposed for a plain matMul, [B, H, dh, N]). Rank-4 transposes only: rank 5 is ~10x slower per element on wasm. */
  private splitHeads(x: tf.Tensor, B: number, transposed = false): tf.Tensor {
    return tf.transpose(tf.reshape(x, [B, -1, this.heads, this.dim / this.heads]), transposed ? [0, 2, 3, 1] : [0, 2, 1, 3]);
  }

  /** [B, H, N, dh] -> [B*N, D] */
  private merge(y: tf.Tensor, B: number): tf.Tensor {
    return tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [-1, this.dim]);
  }

  /** Attention output projection and the MLP, each with its residual. */
  private finishBlock(x: tf.Tensor, y: tf.Tensor, i: number, rng: Rng | null | undefined): tf.Tensor {
    const a = tf.add(x, dropout(linear(y, this.p(`h${i}.attn.proj.w`), this.p(`h${i}.attn.proj.b`)), this.config.dropout, rng));
    return this.mlp(a, i, rng);
  }

  /**
   * Full causal pass over [B, T] tokens. Returns the final (post-LayerNorm) hidden states and each
   * layer's keys/values (the prompt cache when the input is a prompt). With `lastOnly` the last
   * layer runs its attention and MLP for the final position only (a prompt needs nothing else:
   * every layer's keys/values come from that layer's input) and `hidden` is [B, 1, D].
   */
  forward(tokens: tf.Tensor2D, positions: tf.Tensor2D, keyBias: tf.Tensor, opts: ForwardOptions & { lastOnly?: boolean } = {}): { hidden: tf.Tensor3D; kT: tf.Tensor[]; v: tf.Tensor[] } {
    const [B, T] = tokens.shape;
    const D = this.dim;
    const rng = opts.rng;
    const layers = this.config.layers;
    let x = dropout(tf.reshape(this.embed(tokens, positions), [B * T, D]), this.config.dropout, rng); // [B*T, D]
    const bias = tf.add(causalBias(T, 0), keyBias); // [B, 1, T, T]
    const kTs: tf.Tensor[] = [];
    const vs: tf.Tensor[] = [];
    for (let i = 0; i < layers; i++) {
      const [q2, k2, v2] = this.qkv(x, i);
      const kT = this.splitHeads(k2, B, true); // [B, H, dh, T]
      const v = this.splitHeads(v2, B); // [B, H, T, dh]
      kTs.push(kT);
      vs.push(v);
      if (opts.lastOnly && i === layers - 1) {
        const lastRow = (t: tf.Tensor) => tf.reshape(tf.slice(tf.reshape(t, [B, T, D]), [0, T - 1, 0], [B, 1, D]), [B, D]);
        const q = this.splitHeads(lastRow(q2), B); // [B, H, 1, dh]
        const att = tf.softmax(tf.add(tf.matMul(q, kT), keyBias)); // [B, H, 1, T]: the last query sees every real key
        x = this.finishBlock(lastRow(x), this.merge(tf.matMul(att, v), B), i, rng); // [B, D]
      } else {
        const q = this.splitHeads(q2, B); // [B, H, T, dh]
        const att = tf.softmax(tf.add(tf.matMul(q, kT), bias)); // [B, H, T, T]
        x = this.finishBlock(x, this.merge(tf.matMul(att, v), B), i, rng);
      }
    }
    const hidden = tf.reshape(layerNorm(x, this.p('ln_f.g'), this.p('ln_f.b')), [B, -1, D]) as tf.Tensor3D;
    return { hidden, kT: kTs, v: vs };
  }

  /** Run the prompts once; keep what completions need. */
  prefill(prompt: PromptBatch, opts: ForwardOptions = {}): PromptCache {
    const { hidden, kT, v } = this.forward(prompt.tokens, prompt.positions, prompt.keyBias, { ...opts, lastOnly: true });
    const last = tf.reshape(hidden, [prompt.batch, this.dim]) as tf.Tensor2D;
    return { batch: prompt.batch, length: prompt.length, kT, v, keyBias: prompt.keyBias, promptLen: prompt.promptLen, last };
  }

  /**
   * Append n tokens to each of S completions per prompt: `codes` [B, S, n] are codes of levels
   * firstLevel..firstLevel+n-1. Queries attend to the prompt cache (shared by the S completions)
   * and causally to the completion's own earlier tokens (`own`, m of them, plus these n).
   * Returns the final hidden states [B, S, n, D] (the one at level j predicts level j+1) and the
   * completion cache extended by n.
   */
  extend(cache: PromptCache, own: CompletionCache | null, codes: tf.Tensor3D, firstLevel: number, opts: ForwardOptions = {}): { hidden: tf.Tensor4D; own: CompletionCache } {
    const [B, S, n] = codes.shape;
    const D = this.dim;
    const H = this.heads;
    const dh = D / H;
    const T = cache.length;
    const rng = opts.rng;
    const m = own ? own.k[0].shape[3]! : 0;
    const levels = [...Array(n).keys()].map((j) => firstLevel + j);
    const tokens = tf.add(codes, tf.tensor3d(levels.map((l) => this.layout.levelOffset[l]), [1, 1, n], 'int32')); // [B, S, n]
    const positions = tf.broadcastTo(tf.add(tf.reshape(cache.promptLen, [B, 1, 1]), tf.tensor3d(levels, [1, 1, n], 'int32')), [B, S, n]);
    let x = dropout(tf.reshape(this.embed(tokens, positions), [B * S * n, D]), this.config.dropout, rng); // [B*S*n, D]
    const promptBias = tf.reshape(cache.keyBias, [B, 1, 1, 1, T]);
    const ownBias = causalBias(n, m); // [1, 1, n, m+n], broadcasts over [B, H, S, n, m+n]
    const ks: tf.Tensor[] = [];
    const vs: tf.Tensor[] = [];
    for (let i = 0; i < this.config.layers; i++) {
      const [q2, k2, v2] = this.qkv(x, i);
      const q = this.splitHeads(q2, B); // [B, H, S*n, dh]
      const sPrompt = tf.add(tf.reshape(tf.matMul(q, cache.kT[i]), [B, H, S, n, T]), promptBias); // [B, H, S, n, T]
      const kNew = tf.reshape(this.splitHeads(k2, B), [B, H, S, n, dh]);
      const vNew = tf.reshape(this.splitHeads(v2, B), [B, H, S, n, dh]);
      const kAll = own ? tf.concat([own.k[i], kNew], 3) : kNew; // [B, H, S, m+n, dh]
      const vAll = own ? tf.concat([own.v[i], vNew], 3) : vNew; // [B, H, S, m+n, dh]
      // Keys transposed through a rank-3 view (fast) rather than a rank-5 transpose.
      const kTAll = tf.reshape(tf.transpose(tf.reshape(kAll, [B * H * S, m + n, dh]), [0, 2, 1]), [B, H, S, dh, m + n]);
      const sOwn = tf.add(tf.matMul(tf.reshape(q, [B, H, S, n, dh]), kTAll), ownBias); // [B, H, S, n, m+n]
      // Softmax over the prompt's keys and the completion's own keys together, without
      // concatenating them (a rank-5 split costs ~1 s on wasm).
      const mx = tf.maximum(tf.max(sPrompt, -1, true), tf.max(sOwn, -1, true)); // [B, H, S, n, 1]
      const ePrompt = tf.exp(tf.sub(sPrompt, mx));
      const eOwn = tf.exp(tf.sub(sOwn, mx));
      const z = tf.add(tf.sum(ePrompt, -1, true), tf.sum(eOwn, -1, true));
      const aPrompt = tf.div(ePrompt, z); // [B, H, S, n, T]
      const aOwn = tf.div(eOwn, z); // [B, H, S, n, m+n]
      const y = tf.add(
        tf.matMul(tf.reshape(aPrompt, [B, H, S * n, T]), cache.v[i]), // [B, H, S*n, dh]
        tf.reshape(tf.matMul(aOwn, vAll), [B, H, S * n, dh]),
      );
      x = this.finishBlock(x, this.merge(y, B), i, rng);
      ks.push(kAll);
      vs.push(vAll);
    }
    const hidden = tf.reshape(layerNorm(x, this.p('ln_f.g'), this.p('ln_f.b')), [B, S, n, D]) as tf.Tensor4D;
    return { hidden, own: { k: ks, v: vs } };
  }

  /** Logits of level `level` for hidden states h [N, D] -> [N, K_level]. */
  levelLogits(h: tf.Tensor, level: number): tf.Tensor2D {
    const K = this.layout.codebookSizes[level];
    const w = this.config.tieEmbeddings
      ? tf.transpose(tf.slice(this.p('tok_emb'), [this.layout.levelOffset[level], 0], [K, this.dim])) // [D, K]
      : tf.slice(this.p('head.w'), [0, this.headOffset[level]], [this.dim, K]);
    return linear(h, w, tf.slice(this.p('head.b'), [this.headOffset[level]], [K]));
  }

  /**
   * Teacher-forced per-token log-probs and entropies of complete tuples `codes` [B, S, L] after
   * the cached prompts. Level 0 comes from the prompt's last hidden state (shared by the S
   * completions); levels 1..L-1 from one `extend` of the first L-1 codes.
   */
  scoreWithCache(cache: PromptCache, codes: tf.Tensor3D, opts: ForwardOptions = {}): CompletionScores {
    const [B, S, L] = codes.shape;
    const D = this.dim;
    const lp: tf.Tensor[] = [];
    const ent: tf.Tensor[] = [];
    const lsm0 = tf.logSoftmax(this.levelLogits(cache.last, 0)); // [B, K0]
    const code = (l: number) => tf.reshape(tf.slice(codes, [0, 0, l], [B, S, 1]), [B, S]); // [B, S]
    lp.push(pick(tf.expandDims(lsm0, 1), code(0))); // [B, S]
    ent.push(tf.broadcastTo(tf.reshape(entropy(lsm0), [B, 1]), [B, S]));
    if (L > 1) {
      const { hidden } = this.extend(cache, null, tf.slice(codes, [0, 0, 0], [B, S, L - 1]) as tf.Tensor3D, 0, opts); // [B, S, L-1, D]
      for (let l = 1; l < L; l++) {
        const h = tf.reshape(tf.slice(hidden, [0, 0, l - 1, 0], [B, S, 1, D]), [B * S, D]);
        const lsm = tf.reshape(tf.logSoftmax(this.levelLogits(h, l)), [B, S, -1]); // [B, S, K_l]
        lp.push(pick(lsm, code(l)));
        ent.push(entropy(lsm));
      }
    }
    return { logProbs: tf.stack(lp, 2) as tf.Tensor3D, entropies: tf.stack(ent, 2) as tf.Tensor3D };
  }

  /**
   * For RL: per-token log-probs [B, G, L] and entropies [B, G, L] of G completions per prompt,
   * differentiable w.r.t. the weights. The prompt is run once and its keys/values are shared by
   * the G completions. Put the ground truth among the completions (e.g. as completion G) to get
   * its NLL from the same pass: NLL_i = -mean_l logProbs[i, G, l].
   */
  sequenceLogProbs(prompt: PromptBatch, completions: tf.Tensor3D, opts: ForwardOptions = {}): CompletionScores {
    return this.scoreWithCache(this.prefill(prompt, opts), completions, opts);
  }

  /** NLL_i = -(1/L) Σ_l log pi(y_l | x, y_<l) of targets [B, L] -> [B]. */
  nll(prompt: PromptBatch, targets: tf.Tensor2D, opts: ForwardOptions = {}): tf.Tensor1D {
    const { logProbs } = this.sequenceLogProbs(prompt, tf.expandDims(targets, 1) as tf.Tensor3D, opts);
    return tf.neg(tf.mean(tf.reshape(logProbs, [prompt.batch, -1]), 1)) as tf.Tensor1D;
  }

  /**
   * Mean NLL per item token of a batch of sequences (causal LM over every item slot, like SASRec),
   * or, with `lastOnly`, of the last item of each sequence only. With `labelSmoothing` ε > 0 each
   * token's target is (1 − ε) on the true code plus ε spread uniformly over its level's K_l codes
   * (docs/METHOD.md 2.2 "Label smoothing"): the loss is then that cross-entropy, not the NLL.
   */
  sequenceLoss(batch: SequenceBatch, lastOnly: boolean, opts: ForwardOptions & { labelSmoothing?: number } = {}): tf.Scalar {
    const eps = opts.labelSmoothing ?? 0;
    const { hidden } = this.forward(batch.tokens, batch.positions, batch.keyBias, opts); // [B, slots*L, D]
    const B = batch.batch;
    const L = this.layout.levels;
    const D = this.dim;
    let h4 = tf.reshape(hidden, [B, batch.slots, L, D]); // slot j, level l predicts level l of item j
    let targets: tf.Tensor = batch.targets; // [B, slots, L]
    let weights: tf.Tensor = batch.weights; // [B, slots]
    let count = batch.items;
    if (lastOnly) {
      // Windows are right-aligned: the last slot is always a real item.
      h4 = tf.slice(h4, [0, batch.slots - 1, 0, 0], [B, 1, L, D]);
      targets = tf.slice(targets, [0, batch.slots - 1, 0], [B, 1, L]);
      weights = tf.ones([B, 1]);
      count = B;
    }
    const n = h4.shape[1] as number;
    const w = tf.reshape(weights, [B * n]);
    let total: tf.Tensor = tf.scalar(0);
    for (let l = 0; l < L; l++) {
      const h = tf.reshape(tf.slice(h4, [0, 0, l, 0], [B, n, 1, D]), [B * n, D]);
      const lsm = tf.logSoftmax(this.levelLogits(h, l)); // [B*n, K_l]
      const y = tf.reshape(tf.slice(targets, [0, 0, l], [B, n, 1]), [B * n]);
      let logLik: tf.Tensor = pick(lsm, y); // [B*n]
      if (eps > 0) logLik = tf.add(tf.mul(logLik, 1 - eps), tf.mul(tf.mean(lsm, 1), eps));
      total = tf.add(total, tf.sum(tf.mul(logLik, w)));
    }
    return tf.div(tf.neg(total), count * L) as tf.Scalar;
  }
}

/** Positions needed: BOS + (maxHistory + 1) items of L tokens. */
export function maxPositions(config: PolicyConfig, layout: SidLayout): number {
  return 1 + (config.maxHistory + 1) * layout.levels;
}

/** Name -> shape of every weight, in a fixed order (init draws from the Rng in this order). */
export function paramShapes(config: PolicyConfig, layout: SidLayout): [string, number[]][] {
  const D = config.dim;
  const sumK = layout.codebookSizes.reduce((a, b) => a + b, 0);
  const out: [string, number[]][] = [
    ['tok_emb', [layout.vocabSize, D]],
    ['pos_emb', [maxPositions(config, layout), D]],
    ['lvl_emb', [layout.levels + 1, D]],
  ];
  for (let i = 0; i < config.layers; i++) {
    out.push(
      [`h${i}.ln1.g`, [D]],
      [`h${i}.ln1.b`, [D]],
      [`h${i}.attn.q.w`, [D, D]],
      [`h${i}.attn.q.b`, [D]],
      [`h${i}.attn.k.w`, [D, D]],
      [`h${i}.attn.k.b`, [D]],
      [`h${i}.attn.v.w`, [D, D]],
      [`h${i}.attn.v.b`, [D]],
      [`h${i}.attn.proj.w`, [D, D]],
      [`h${i}.attn.proj.b`, [D]],
      [`h${i}.ln2.g`, [D]],
      [`h${i}.ln2.b`, [D]],
      [`h${i}.mlp.fc.w`, [D, 4 * D]],
      [`h${i}.mlp.fc.b`, [4 * D]],
      [`h${i}.mlp.proj.w`, [4 * D, D]],
      [`h${i}.mlp.proj.b`, [D]],
    );
  }
  out.push(['ln_f.g', [D]], ['ln_f.b', [D]]);
  if (!config.tieEmbeddings) out.push(['head.w', [D, sumK]]);
  out.push(['head.b', [sumK]]);
  return out;
}

/** Causal bias of n new queries over m earlier + n new keys: 0 where key j <= m + i, MASKED after. [1, 1, n, m+n] */
function causalBias(n: number, m: number): tf.Tensor {
  const v = new Float32Array(n * (m + n));
  for (let i = 0; i < n; i++) for (let j = m + i + 1; j < m + n; j++) v[i * (m + n) + j] = MASKED;
  return tf.tensor(v, [1, 1, n, m + n]);
}

/** The last `maxHistory` items of a history. */
function truncate(history: ArrayLike<number>, maxHistory: number): ArrayLike<number> {
  const h = history as Int32Array | number[];
  return h.length > maxHistory ? h.slice(h.length - maxHistory) : h;
}

/**
 * Prompts BOS + last `maxHistory` items, left padded with PAD to the longest. `codes` is the SID
 * table [I*L] (codes[item*L + l]).
 */
export function buildPrompts(layout: SidLayout, codes: Int32Array, histories: ArrayLike<number>[], maxHistory: number): PromptBatch {
  const L = layout.levels;
  const hs = histories.map((h) => truncate(h, maxHistory));
  const B = hs.length;
  const T = 1 + L * Math.max(0, ...hs.map((h) => h.length));
  const tokens = new Int32Array(B * T).fill(layout.pad);
  const positions = new Int32Array(B * T);
  const bias = new Float32Array(B * T);
  const promptLen = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    const h = hs[b];
    const len = 1 + L * h.length;
    const pad = T - len;
    promptLen[b] = len;
    bias.fill(MASKED, b * T, b * T + pad);
    const row = b * T + pad;
    tokens[row] = layout.bos;
    for (let p = 0; p < len; p++) positions[row + p] = p;
    for (let k = 0; k < h.length; k++) {
      for (let l = 0; l < L; l++) tokens[row + 1 + k * L + l] = layout.levelOffset[l] + codes[h[k] * L + l];
    }
  }
  return {
    batch: B,
    length: T,
    tokens: tf.tensor2d(tokens, [B, T], 'int32'),
    positions: tf.tensor2d(positions, [B, T], 'int32'),
    keyBias: tf.tensor4d(bias, [B, 1, 1, T]),
    promptLen: tf.tensor1d(promptLen, 'int32'),
  };
}

/** Rows [start, end) of a prompt batch (same padded length); free with disposePrompts. */
export function slicePrompts(p: PromptBatch, start: number, end: number): PromptBatch {
  const n = end - start;
  return {
    batch: n,
    length: p.length,
    tokens: tf.slice(p.tokens, [start, 0], [n, p.length]), // [n, T]
    positions: tf.slice(p.positions, [start, 0], [n, p.length]), // [n, T]
    keyBias: tf.slice(p.keyBias, [start, 0, 0, 0], [n, 1, 1, p.length]), // [n, 1, 1, T]
    promptLen: tf.slice(p.promptLen, [start], [n]), // [n]
  };
}

export function disposePrompts(p: PromptBatch): void {
  tf.dispose([p.tokens, p.positions, p.keyBias, p.promptLen]);
}

/**
 * Training sequences: each window (items in time order, at most maxHistory+1 of them) becomes
 * BOS + its items, right-aligned in `slots` item slots. Padding is a whole number of items, so
 * the hidden state at input index s*L + l predicts level l of slot s for every row alike.
 */
export function buildSequences(layout: SidLayout, codes: Int32Array, windows: ArrayLike<number>[]): SequenceBatch {
  const L = layout.levels;
  const B = windows.length;
  const slots = Math.max(1, ...windows.map((w) => w.length));
  const T = slots * L; // inputs: BOS + all tokens but the very last one
  const tokens = new Int32Array(B * T).fill(layout.pad);
  const positions = new Int32Array(B * T);
  const bias = new Float32Array(B * T);
  const targets = new Int32Array(B * slots * L);
  const weights = new Float32Array(B * slots);
  let items = 0;
  let realTokens = 0;
  for (let b = 0; b < B; b++) {
    const w = windows[b];
    const n = w.length;
    const first = slots - n; // first real slot
    const start = first * L; // input index of BOS
    bias.fill(MASKED, b * T, b * T + start);
    tokens[b * T + start] = layout.bos;
    for (let p = 0; p < n * L; p++) positions[b * T + start + p] = p;
    for (let k = 0; k < n; k++) {
      const s = first + k;
      weights[b * slots + s] = 1;
      for (let l = 0; l < L; l++) {
        const c = codes[w[k] * L + l];
        targets[(b * slots + s) * L + l] = c;
        const idx = start + 1 + k * L + l;
        if (idx < T) tokens[b * T + idx] = layout.levelOffset[l] + c;
      }
    }
    items += n;
    realTokens += n * L;
  }
  return {
    batch: B,
    slots,
    tokens: tf.tensor2d(tokens, [B, T], 'int32'),
    positions: tf.tensor2d(positions, [B, T], 'int32'),
    keyBias: tf.tensor4d(bias, [B, 1, 1, T]),
    targets: tf.tensor3d(targets, [B, slots, L], 'int32'),
    weights: tf.tensor2d(weights, [B, slots]),
    items,
    realTokens,
  };
}

export function disposeSequences(s: SequenceBatch): void {
  tf.dispose([s.tokens, s.positions, s.keyBias, s.targets, s.weights]);
}
