/**
 * SASRec (Kang and McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018): the classic
 * ID-based next-item model, kept in the harness as the anchor every dataset is compared with
 * (docs/METHOD.md 2.9). Items are ids 1..I (0 is padding); a history is left-padded to `maxLen`;
 * learned position embeddings; `layers` pre-LayerNorm blocks of causal self-attention and a GELU
 * MLP; the item embedding is shared as the output layer, so score(u, i) = h_T(u) · e_i over the
 * whole catalog. Written with tfjs-core ops only, like the policy, so it runs on every backend.
 */
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../errors.js';
import type { Rng } from '../rng.js';
import { MASKED, dropout, gelu, layerNorm, linear, normalInit, type Params } from './layers.js';

export interface SasrecArch {
  numItems: number;
  dim: number;
  layers: number;
  heads: number;
  /** History length the model reads (the most recent items). */
  maxLen: number;
  dropout: number;
}

let instances = 0;

function paramShapes(a: SasrecArch): [string, number[]][] {
  const D = a.dim;
  const out: [string, number[]][] = [
    ['item_emb', [a.numItems + 1, D]],
    ['pos_emb', [a.maxLen, D]],
  ];
  for (let i = 0; i < a.layers; i++) {
    out.push([`h${i}.ln1.g`, [D]], [`h${i}.ln1.b`, [D]]);
    for (const w of ['q', 'k', 'v', 'proj']) out.push([`h${i}.attn.${w}.w`, [D, D]], [`h${i}.attn.${w}.b`, [D]]);
    out.push([`h${i}.ln2.g`, [D]], [`h${i}.ln2.b`, [D]], [`h${i}.mlp.fc.w`, [D, D]], [`h${i}.mlp.fc.b`, [D]], [`h${i}.mlp.proj.w`, [D, D]], [`h${i}.mlp.proj.b`, [D]]);
  }
  out.push(['ln_f.g', [D]], ['ln_f.b', [D]]);
  return out;
}

export class Sasrec {
  private constructor(
    readonly arch: SasrecArch,
    readonly params: Params,
  ) {}

  /** N(0, 0.02) weights, LayerNorm gains 1 and biases 0, drawn from the stage's stream. */
  static create(arch: SasrecArch, rng: Rng): Sasrec {
    if (arch.dim % arch.heads !== 0) throw new UserError(`sasrec.heads (${arch.heads}) must divide sasrec.dim (${arch.dim})`);
    const id = instances++;
    const params: Params = new Map();
    for (const [name, shape] of paramShapes(arch)) {
      const init = name.endsWith('.g') ? tf.ones(shape) : name.endsWith('.b') ? tf.zeros(shape) : normalInit(rng, shape, 0.02);
      params.set(name, tf.variable(init, true, `sasrec${id}/${name}`));
      init.dispose();
    }
    return new Sasrec(arch, params);
  }

  /** Weights copied from a checkpoint's tensors; each must be there with its shape. */
  static fromTensors(arch: SasrecArch, tensors: Map<string, tf.Tensor>, where: string): Sasrec {
    const bad = paramShapes(arch).filter(([n, s]) => tensors.get(n)?.shape.join(',') !== s.join(','));
    if (bad.length > 0) throw new UserError(`${where} does not fit the sasrec config (sasrec.* or the data changed): ${bad.slice(0, 3).map(([n]) => n).join(', ')}`);
    const id = instances++;
    const params: Params = new Map();
    for (const [name] of paramShapes(arch)) {
      const init = tensors.get(name)!.clone();
      params.set(name, tf.variable(init, false, `sasrec${id}/${name}`));
      init.dispose();
    }
    return new Sasrec(arch, params);
  }

  /** Weight decay on matrices and embeddings only. */
  static noDecay(name: string): boolean {
    return name.endsWith('.b') || name.endsWith('.g');
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
  }

  private p(name: string): tf.Variable {
    return this.params.get(name)!;
  }

  /**
   * Hidden states of left-padded histories: items [B, T] int32 (ids 1..I, 0 = pad, T = maxLen)
   * -> [B*T, D]; row b*T + t predicts the item after position t. Padding keys are masked, and a
   * padding query sees only itself (its output is never used).
   */
  hidden(items: tf.Tensor2D, rng: Rng | null): tf.Tensor2D {
    const [B, T] = items.shape;
    const { dim: D, heads: H } = this.arch;
    const dh = D / H;
    const real = tf.cast(tf.notEqual(items, 0), 'float32'); // [B, T]
    const emb = tf.reshape(tf.gather(this.p('item_emb'), tf.reshape(items, [-1])), [B, T, D]);
    // Embeddings scaled by sqrt(D) as in the original, then positions; padding rows zeroed.
    let x = tf.reshape(tf.mul(tf.add(tf.mul(emb, Math.sqrt(D)), tf.slice(this.p('pos_emb'), [0, 0], [T, D])), tf.expandDims(real, 2)), [B * T, D]);
    x = dropout(x, this.arch.dropout, rng);
    const causal = new Float32Array(T * T);
    for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) causal[i * T + j] = MASKED;
    // [B, 1, T, T]: no future key, no padding key except the query's own position.
    const padKey = tf.mul(tf.sub(1, tf.reshape(real, [B, 1, 1, T])), tf.sub(1, tf.reshape(tf.eye(T), [1, 1, T, T]))); // 1 = masked
    const bias = tf.add(tf.tensor4d(causal, [1, 1, T, T]), tf.mul(padKey, MASKED));
    const heads = (t: tf.Tensor, perm: number[]) => tf.transpose(tf.reshape(t, [B, T, H, dh]), perm);
    for (let i = 0; i < this.arch.layers; i++) {
      const h = layerNorm(x, this.p(`h${i}.ln1.g`), this.p(`h${i}.ln1.b`));
      const proj = (w: string) => linear(h, this.p(`h${i}.attn.${w}.w`), this.p(`h${i}.attn.${w}.b`));
      const q = heads(tf.mul(proj('q'), 1 / Math.sqrt(dh)), [0, 2, 1, 3]); // [B, H, T, dh]
      const kT = heads(proj('k'), [0, 2, 3, 1]); // [B, H, dh, T]
      const v = heads(proj('v'), [0, 2, 1, 3]); // [B, H, T, dh]
      const att = dropout(tf.softmax(tf.add(tf.matMul(q, kT), bias)), this.arch.dropout, rng); // [B, H, T, T]
      const y = tf.reshape(tf.transpose(tf.matMul(att, v), [0, 2, 1, 3]), [B * T, D]);
      x = tf.add(x, dropout(linear(y, this.p(`h${i}.attn.proj.w`), this.p(`h${i}.attn.proj.b`)), this.arch.dropout, rng));
      const h2 = layerNorm(x, this.p(`h${i}.ln2.g`), this.p(`h${i}.ln2.b`));
      const m = linear(gelu(linear(h2, this.p(`h${i}.mlp.fc.w`), this.p(`h${i}.mlp.fc.b`))), this.p(`h${i}.mlp.proj.w`), this.p(`h${i}.mlp.proj.b`));
      x = tf.add(x, dropout(m, this.arch.dropout, rng));
    }
    return layerNorm(x, this.p('ln_f.g'), this.p('ln_f.b')) as tf.Tensor2D;
  }

  /** Scores of every catalog item: h [N, D] -> [N, I], column i-1 = item id i. */
  scoreAll(h: tf.Tensor2D): tf.Tensor2D {
    const I = this.arch.numItems;
    return tf.matMul(h, tf.transpose(tf.slice(this.p('item_emb'), [1, 0], [I, this.arch.dim])));
  }

  /** Scores of chosen items: h [N, D], ids [N] (1..I) -> [N]. */
  scoreItems(h: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor1D {
    return tf.sum(tf.mul(h, tf.gather(this.p('item_emb'), ids)), -1);
  }
}

/**
 * Left-padded id matrix of histories (item indices 0..I-1 become ids 1..I): the last `maxLen`
 * items of each, [B * maxLen] row-major.
 */
export function packHistory(histories: readonly ArrayLike<number>[], maxLen: number): Int32Array {
  const out = new Int32Array(histories.length * maxLen);
  histories.forEach((h, b) => {
    const n = Math.min(h.length, maxLen);
    for (let t = 0; t < n; t++) out[b * maxLen + (maxLen - n + t)] = h[h.length - n + t] + 1;
  });
  return out;
}
