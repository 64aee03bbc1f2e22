/**
 * Decoding a semantic ID level by level (docs/METHOD.md 2.6, 2.4): batched beam search of width W and
 * temperature sampling of G completions per prompt. Both run the prompt once (its keys/values
 * are cached and shared by every beam or sample of that prompt), then one forward per level for
 * all B*W (or B*G) sequences at once. Beams stay on tensors; the only read-backs are one per
 * level for constrained decoding (the trie lives in JS) and one at the end.
 *
 * Decoding talks to the model through `Decoder`/`DecodeSession`, so tests can drive it with a
 * stub whose log-probs are known exactly.
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../rng.js';
import { disposeAll, entropy, pick, tidyObj } from './layers.js';
import type { CompletionCache, Policy, PromptBatch, PromptCache } from './policy.js';

/** The batched trie constraint (src/data/sid/catalog.ts `Catalog` has it). */
export interface NextMask {
  /** prefixes [N*level] -> [N*K_level]: 0 where the code keeps the prefix a valid item prefix, -Infinity elsewhere. */
  nextMask(prefixes: Int32Array, n: number, level: number): Float32Array;
}

/** One decoding pass over a batch of prompts. Returned tensors belong to the caller. */
export interface DecodeSession {
  /** Level-0 logits [B, K0] (the prompt's last state predicts level 0). Owned by the session. */
  readonly logits0: tf.Tensor2D;
  /**
   * Keep the sequences `parents` [B, S'] (indices into the current S per prompt; null keeps them
   * as they are, and must be null when nothing was appended yet), append `codes` [B, S'] as their
   * level `level - 1` code, and return the logits of level `level` [B, S', K_level].
   */
  advance(parents: tf.Tensor2D | null, codes: tf.Tensor2D, level: number): tf.Tensor3D;
  /** Teacher-forced per-token log-probs [B, S, L] of complete tuples `codes` [B, S, L] after the same prompts. */
  score(codes: tf.Tensor3D): tf.Tensor3D;
  dispose(): void;
}

export interface Decoder {
  readonly levels: number;
  readonly codebookSizes: readonly number[];
  start(prompt: PromptBatch): DecodeSession;
}

/** The policy as a Decoder: prompt cache once, then an `extend` of one token per level. */
export function policyDecoder(policy: Policy): Decoder {
  return { levels: policy.layout.levels, codebookSizes: policy.layout.codebookSizes, start: (prompt) => new PolicySession(policy, prompt) };
}

class PolicySession implements DecodeSession {
  readonly logits0: tf.Tensor2D;
  private readonly cache: PromptCache;
  private own: CompletionCache | null = null;

  constructor(
    private readonly policy: Policy,
    prompt: PromptBatch,
  ) {
    const out = tidyObj(() => {
      const cache = policy.prefill(prompt);
      return { cache, logits0: policy.levelLogits(cache.last, 0) };
    });
    this.cache = out.cache;
    this.logits0 = out.logits0;
  }

  advance(parents: tf.Tensor2D | null, codes: tf.Tensor2D, level: number): tf.Tensor3D {
    const [B, S] = codes.shape;
    const prev = this.own;
    const out = tidyObj(() => {
      // Beams that survived take their parent's cached keys/values (axis 2 = beam, per prompt).
      const own = prev && parents ? { k: prev.k.map((t) => gatherBeamsAxis2(t, parents)), v: prev.v.map((t) => gatherBeamsAxis2(t, parents)) } : prev;
      const r = this.policy.extend(this.cache, own, tf.expandDims(codes, 2) as tf.Tensor3D, level - 1);
      const h = tf.reshape(r.hidden, [B * S, this.policy.dim]);
      return { own: r.own, logits: tf.reshape(this.policy.levelLogits(h, level), [B, S, -1]) as tf.Tensor3D };
    });
    if (prev) tf.dispose([...prev.k, ...prev.v]);
    this.own = out.own;
    return out.logits;
  }

  score(codes: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => this.policy.scoreWithCache(this.cache, codes).logProbs);
  }

  dispose(): void {
    // keyBias and promptLen belong to the prompt batch, not to the session.
    tf.dispose([...this.cache.kT, ...this.cache.v, this.cache.last, this.logits0]);
    if (this.own) tf.dispose([...this.own.k, ...this.own.v]);
    this.own = null;
  }
}

export interface BeamOptions {
  /** W: beams kept per level. */
  beam: number;
  /** Results returned per prompt (default W). */
  topK?: number;
  /** Constrained decoding: only codes that keep the prefix a catalog item's prefix. */
  mask?: NextMask | null;
  /** Ground-truth tuples [B*L]: their sequence log-prob comes back alongside (one extra scoring pass). */
  targets?: Int32Array | null;
}

export interface BeamResult {
  batch: number;
  /** Results per prompt. */
  k: number;
  levels: number;
  /** [B*k*L] row-major, best first. */
  codes: Int32Array;
  /** [B*k] sequence log-probs Σ_l log pi(code_l | .); -Infinity = no valid candidate (constrained, catalog smaller than the beam). */
  scores: Float32Array;
  /** [B] sequence log-prob of `targets`, when given. */
  targetLogProbs: Float32Array | null;
}

/**
 * Rows of x [B, S, ...] picked per prompt by parents [B, S'] -> [B, S', ...]. A flat gather on
 * [B*S, ...]: tf.gather with batchDims returns wrong rows on the wasm backend (tfjs 4.22).
 */
export function gatherBeams(x: tf.Tensor, parents: tf.Tensor2D): tf.Tensor {
  const [B, S] = x.shape;
  const S2 = parents.shape[1];
  const flat = tf.reshape(tf.add(parents, tf.mul(tf.reshape(tf.range(0, B, 1, 'int32'), [B, 1]), tf.scalar(S, 'int32'))), [B * S2]);
  const rest = x.shape.slice(2);
  return tf.reshape(tf.gather(tf.reshape(x, [B * S, ...rest]), flat), [B, S2, ...rest]);
}

/** The same for a per-layer cache [B, H, S, m, dh] (beam axis 2), through rank-4 views (rank-5 transposes are slow on wasm). */
function gatherBeamsAxis2(x: tf.Tensor, parents: tf.Tensor2D): tf.Tensor {
  const [B, H, S, m, dh] = x.shape;
  const S2 = parents.shape[1];
  const byBeam = tf.transpose(tf.reshape(x, [B, H, S, m * dh]), [0, 2, 1, 3]); // [B, S, H, m*dh]
  return tf.reshape(tf.transpose(gatherBeams(byBeam, parents), [0, 2, 1, 3]), [B, H, S2, m, dh]);
}

/**
 * Constraint mask of `level` for the prefixes [B, S, level] (one asynchronous read-back: the
 * trie lives in JS) -> [B, S, K] (or [B, K] when prefixes is null). The caller owns the tensor.
 */
async function maskFor(mask: NextMask, prefixes: tf.Tensor3D | null, B: number, level: number, K: number): Promise<tf.Tensor> {
  if (!prefixes) return tf.tensor2d(mask.nextMask(new Int32Array(0), B, 0), [B, K]);
  const [, S] = prefixes.shape;
  const pre = (await prefixes.data()) as Int32Array;
  return tf.tensor3d(mask.nextMask(pre, B * S, level), [B, S, K]);
}

/**
 * Batched beam search: level 0 keeps the top min(W, K_0) codes, each later level expands every
 * beam by every code of that level and keeps the top W by summed log-prob. Returns the final
 * beams sorted by score.
 */
export async function beamSearch(decoder: Decoder, prompt: PromptBatch, opts: BeamOptions): Promise<BeamResult> {
  const B = prompt.batch;
  const L = decoder.levels;
  const W = opts.beam;
  const mask = opts.mask ?? null;
  const session = decoder.start(prompt);
  let scores: tf.Tensor2D | null = null; // [B, S]
  let prefix: tf.Tensor3D | null = null; // [B, S, l]
  let last: tf.Tensor2D | null = null; // [B, S] codes chosen at the latest level
  let parents: tf.Tensor2D | null = null; // [B, S] parent beam of each beam, null at level 0
  let m: tf.Tensor | null = null; // the constraint mask of the current level
  try {
    const K0 = decoder.codebookSizes[0];
    if (mask) m = await maskFor(mask, null, B, 0, K0);
    const m0 = m;
    const first = tf.tidy(() => {
      let lp = tf.logSoftmax(session.logits0); // [B, K0]
      if (m0) lp = tf.add(lp, m0);
      const { values, indices } = tf.topk(lp, Math.min(W, K0));
      return { values, indices, prefix: tf.expandDims(indices, 2) };
    });
    scores = first.values as tf.Tensor2D;
    last = first.indices as tf.Tensor2D;
    prefix = first.prefix as tf.Tensor3D;
    for (let level = 1; level < L; level++) {
      const K = decoder.codebookSizes[level];
      const logits = session.advance(parents, last, level); // [B, S, K]
      const S = logits.shape[1];
      const curPrefix: tf.Tensor3D = prefix;
      const curScores: tf.Tensor2D = scores;
      disposeAll([m]);
      m = mask ? await maskFor(mask, curPrefix, B, level, K) : null;
      const mk = m;
      const next = tf.tidy(() => {
        let cand = tf.add(tf.expandDims(curScores, 2), tf.logSoftmax(logits)); // [B, S, K]
        if (mk) cand = tf.add(cand, mk);
        const { values, indices } = tf.topk(tf.reshape(cand, [B, S * K]), Math.min(W, S * K)); // [B, S']
        const kk = tf.scalar(K, 'int32');
        const par = tf.floorDiv(indices, kk) as tf.Tensor2D;
        const code = tf.mod(indices, kk) as tf.Tensor2D;
        const pre = tf.concat([gatherBeams(curPrefix, par), tf.expandDims(code, 2)], 2);
        return { values, par, code, pre };
      });
      logits.dispose();
      disposeAll([scores, prefix, last, parents]);
      scores = next.values as tf.Tensor2D;
      parents = next.par as tf.Tensor2D;
      last = next.code as tf.Tensor2D;
      prefix = next.pre as tf.Tensor3D;
    }
    const S = prefix.shape[1];
    const k = Math.min(opts.topK ?? W, S);
    const codes = (await prefix.data()) as Int32Array;
    const sc = (await scores.data()) as Float32Array;
    const outCodes = new Int32Array(B * k * L);
    const outScores = new Float32Array(B * k);
    for (let b = 0; b < B; b++) {
      outCodes.set(codes.subarray(b * S * L, (b * S + k) * L), b * k * L);
      outScores.set(sc.subarray(b * S, b * S + k), b * k);
    }
    let targetLogProbs: Float32Array | null = null;
    if (opts.targets) {
      const t = opts.targets;
      const lp = tf.tidy(() => tf.sum(session.score(tf.tensor3d(t, [B, 1, L], 'int32')), [1, 2])); // [B]
      targetLogProbs = (await lp.data()) as Float32Array;
      lp.dispose();
    }
    return { batch: B, k, levels: L, codes: outCodes, scores: outScores, targetLogProbs };
  } finally {
    disposeAll([scores, prefix, last, parents, m]);
    session.dispose();
  }
}

export interface SampleOptions {
  /** G: completions per prompt. */
  samples: number;
  /** Softmax temperature of the sampling distribution (log-probs are still reported at temperature 1). */
  temperature: number;
  rng: Rng;
  mask?: NextMask | null;
  /** Ground-truth tuples [B*L]: their per-token log-probs come back alongside. */
  targets?: Int32Array | null;
}

export interface SampleResult {
  batch: number;
  samples: number;
  levels: number;
  /** [B*G*L] sampled codes. */
  codes: Int32Array;
  /** [B*G*L] log pi(code_l | prompt, code_<l) under the policy at temperature 1, unconstrained. */
  logProbs: Float32Array;
  /** [B*G*L] entropy (nats) of pi(. | prompt, code_<l) at temperature 1. */
  entropies: Float32Array;
  /** [B*L] per-token log-probs of `targets`, when given. */
  targetLogProbs: Float32Array | null;
}

/**
 * Temperature sampling of G completions per prompt by Gumbel-max (argmax of logits/T + Gumbel
 * noise), with the noise drawn from a seed taken from `rng`: a run's samples are a function of
 * its seed on every backend. One forward per level for all B*G sequences.
 */
export async function sample(decoder: Decoder, prompt: PromptBatch, opts: SampleOptions): Promise<SampleResult> {
  const B = prompt.batch;
  const G = opts.samples;
  const L = decoder.levels;
  const mask = opts.mask ?? null;
  const session = decoder.start(prompt);
  const codes: tf.Tensor[] = []; // per level [B, G]
  const lps: tf.Tensor[] = [];
  const ents: tf.Tensor[] = [];
  try {
    for (let level = 0; level < L; level++) {
      const K = decoder.codebookSizes[level];
      const logits = level === 0 ? null : session.advance(null, codes[level - 1] as tf.Tensor2D, level); // [B, G, K]
      const seed = opts.rng.nextU32();
      const prefix = mask && level > 0 ? (tf.stack(codes, 2) as tf.Tensor3D) : null;
      const m = mask ? await maskFor(mask, prefix, B, level, K) : null; // [B, K] at level 0, else [B, G, K]
      const out = tf.tidy(() => {
        const z = logits ?? tf.broadcastTo(tf.expandDims(session.logits0, 1), [B, G, K]); // [B, G, K]
        const lsm = tf.logSoftmax(z);
        let s = tf.div(z, opts.temperature);
        if (m) s = tf.add(s, level === 0 ? tf.expandDims(m, 1) : m);
        const u = tf.randomUniform([B, G, K], 1e-20, 1, 'float32', seed);
        const code = tf.cast(tf.argMax(tf.add(s, tf.neg(tf.log(tf.neg(tf.log(u))))), -1), 'int32'); // [B, G]
        return { code, lp: pick(lsm, code), ent: entropy(lsm) };
      });
      if (logits) logits.dispose();
      disposeAll([prefix, m]);
      codes.push(out.code);
      lps.push(out.lp);
      ents.push(out.ent);
    }
    // The read-backs, all queued before the first await so a GPU drains its queue once.
    const stacked = tf.tidy(() => [tf.stack(codes, 2), tf.stack(lps, 2), tf.stack(ents, 2)]); // [B, G, L] each
    const tlp = opts.targets ? tf.tidy(() => session.score(tf.tensor3d(opts.targets!, [B, 1, L], 'int32'))) : null; // [B, 1, L]
    try {
      const [c, lp, ent, t] = await Promise.all([...stacked.map((x) => x.data()), tlp?.data() ?? null]);
      return {
        batch: B,
        samples: G,
        levels: L,
        codes: c as Int32Array,
        logProbs: lp as Float32Array,
        entropies: ent as Float32Array,
        targetLogProbs: (t as Float32Array | null) ?? null,
      };
    } finally {
      disposeAll([...stacked, tlp]);
    }
  } finally {
    tf.dispose([...codes, ...lps, ...ents]);
    session.dispose();
  }
}
