/**
 * The "production ranker" (docs/METHOD.md 2.3): scores (history, candidate item) -> click logit. It is
 * the reward model of RL, trained on exposure-biased logs, and is deliberately a plain
 * industrial CTR model: per-item embeddings, a history encoder and an MLP.
 *
 *   history [B, H] --embed--> [B, H, D] --encoder--> u: [B, 1, D] (pooling) or [B, G, D] (attention)
 *   candidates [B, G] --embed--> c: [B, G, D]
 *   last: [B, 1, D] the most recent item's embedding
 *   logit[b, g] = MLP([u, c, u*c, last*c]) + itemBias[c]
 * The explicit last-item interaction is there because next-item behaviour is strongly
 * sequential (the synthetic world's utility has a b*last.item term; real logs likewise).
 *
 * Scoring is batched as B histories x G candidates: the history is embedded once per sample;
 * target attention (DIN-style: the candidate is the query over the history) is computed as one
 * batched [B, G, H] score matrix, never by re-embedding the history per candidate.
 *
 * Histories are right-aligned: slot H-1 holds the most recent item, shorter histories are padded
 * on the left with the pad index `numItems`. Pads are masked out of attention and pooling; an
 * empty history attends uniformly over pads, so the pad row learns an "unknown user" vector.
 */
import * as tf from '@tensorflow/tfjs';
import type { RankerConfig } from '../config/schema.js';
import { UserError } from '../errors.js';
import type { Rng } from '../rng.js';
import { normalInit } from './layers.js';

/** The part of `ranker.*` that fixes the architecture (checked when loading weights). */
export type RankerArch = Pick<RankerConfig, 'dim' | 'hidden' | 'encoder' | 'maxHistory'>;

export const RANKER_PARAM_NAMES = [
  'itemEmb', // [I+1, D], row I = pad
  'itemBias', // [I+1]
  'pos', // [H, D] recency embedding added to attention keys
  'wq', // [D, D]
  'wk', // [D, D]
  'w1u', // [D, hidden]
  'w1c', // [D, hidden]
  'w1x', // [D, hidden]
  'w1l', // [D, hidden]
  'b1', // [hidden]
  'w2', // [hidden, 1]
  'b2', // [1]
] as const;

/** Map/checkpoint key of a ranker weight; the prefix keeps optimizer names apart from the policy's. */
export function rankerParamKey(name: string): string {
  return `ranker/${name}`;
}

export class Ranker {
  /** `ranker/<name>` -> variable; AdamW and checkpoints key on these names. */
  readonly params: Map<string, tf.Variable>;

  private constructor(
    readonly numItems: number,
    readonly arch: RankerArch,
    params: Map<string, tf.Variable>,
  ) {
    this.params = params;
  }

  /** Fresh weights. `trainable: false` for a frozen reward model in RL. */
  static create(numItems: number, arch: RankerArch, rng: Rng, trainable = true): Ranker {
    const { dim: D, hidden: Hd, maxHistory: H } = arch;
    const glorot = (fanIn: number, fanOut: number) => Math.sqrt(2 / (fanIn + fanOut));
    const init: Record<string, tf.Tensor> = {
      itemEmb: normalInit(rng, [numItems + 1, D], 0.1),
      itemBias: tf.zeros([numItems + 1]),
      pos: normalInit(rng, [H, D], 0.1),
      wq: normalInit(rng, [D, D], glorot(D, D)),
      wk: normalInit(rng, [D, D], glorot(D, D)),
      w1u: normalInit(rng, [D, Hd], glorot(4 * D, Hd)),
      w1c: normalInit(rng, [D, Hd], glorot(4 * D, Hd)),
      w1x: normalInit(rng, [D, Hd], glorot(4 * D, Hd)),
      w1l: normalInit(rng, [D, Hd], glorot(4 * D, Hd)),
      b1: tf.zeros([Hd]),
      w2: normalInit(rng, [Hd, 1], glorot(Hd, 1)),
      b2: tf.zeros([1]),
    };
    const named = new Map(Object.entries(init).map(([k, t]) => [rankerParamKey(k), t] as [string, tf.Tensor]));
    return Ranker.fromTensors(numItems, arch, named, trainable, true);
  }

  /**
   * Wrap tensors (e.g. from a checkpoint) as variables, checking every shape against the
   * architecture. With `disposeInputs` the given tensors are released after copying.
   */
  static fromTensors(numItems: number, arch: RankerArch, tensors: Map<string, tf.Tensor>, trainable = true, disposeInputs = false): Ranker {
    const expected = Ranker.shapes(numItems, arch);
    const params = new Map<string, tf.Variable>();
    for (const name of RANKER_PARAM_NAMES) {
      const t = tensors.get(rankerParamKey(name));
      const want = expected[name];
      if (!t) throw new UserError(`ranker weights lack "${name}"`);
      if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
        throw new UserError(
          `ranker weight "${name}" has shape [${t.shape}] but ranker.{dim,hidden,maxHistory} and ${numItems} items need [${want}]: ` +
            `the checkpoint was made with another ranker config or dataset`,
        );
      }
      // Variables get tfjs's auto names: two rankers (or optimizers) may coexist in one process.
      params.set(rankerParamKey(name), tf.variable(t, trainable));
    }
    if (disposeInputs) for (const t of tensors.values()) t.dispose();
    return new Ranker(numItems, arch, params);
  }

  static shapes(numItems: number, arch: RankerArch): Record<(typeof RANKER_PARAM_NAMES)[number], number[]> {
    const { dim: D, hidden: Hd, maxHistory: H } = arch;
    return {
      itemEmb: [numItems + 1, D],
      itemBias: [numItems + 1],
      pos: [H, D],
      wq: [D, D],
      wk: [D, D],
      w1u: [D, Hd],
      w1c: [D, Hd],
      w1x: [D, Hd],
      w1l: [D, Hd],
      b1: [Hd],
      w2: [Hd, 1],
      b2: [1],
    };
  }

  get padIndex(): number {
    return this.numItems;
  }

  private p(name: (typeof RANKER_PARAM_NAMES)[number]): tf.Variable {
    return this.params.get(rankerParamKey(name))!;
  }

  /**
   * Click logits for B histories x G candidates.
   * @param history int32 [B, H] right-aligned item indices, pads = numItems (see `packHistories`)
   * @param candidates int32 [B, G] item indices in [0, numItems)
   * @returns [B, G] logits
   */
  logits(history: tf.Tensor2D, candidates: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const [B, H] = history.shape;
      const G = candidates.shape[1];
      const { dim: D, hidden: Hd } = this.arch;
      if (H !== this.arch.maxHistory) throw new Error(`ranker history width ${H} != ranker.maxHistory ${this.arch.maxHistory}`);
      const emb = this.p('itemEmb') as tf.Tensor2D;
      const hist = tf.reshape(lookupRows(emb, tf.reshape(history, [-1])), [B, H, D]); // [B, H, D]
      const cand = tf.reshape(lookupRows(emb, tf.reshape(candidates, [-1])), [B, G, D]); // [B, G, D]
      const valid = tf.cast(tf.notEqual(history, this.padIndex), 'float32'); // [B, H]

      let u: tf.Tensor3D; // [B, Gu, D], Gu = 1 (pooling) or G (attention)
      if (this.arch.encoder === 'attention') {
        // Keys carry recency (slot H-1 = latest); values are the plain item embeddings.
        const keys = tf.reshape(tf.matMul(tf.reshape(tf.add(hist, this.p('pos')), [B * H, D]), this.p('wk')), [B, H, D]);
        const query = tf.reshape(tf.matMul(tf.reshape(cand, [B * G, D]), this.p('wq')), [B, G, D]);
        const scores = tf.div(tf.matMul(query, tf.transpose(keys, [0, 2, 1])), Math.sqrt(D)); // [B, G, H]
        const maskBias = tf.reshape(tf.mul(tf.sub(1, valid), -1e9), [B, 1, H]);
        const att = tf.softmax(tf.add(scores, maskBias), -1); // [B, G, H]
        u = tf.matMul(att, hist); // [B, G, D]
      } else {
        const count = tf.maximum(tf.sum(valid, 1, true), 1); // [B, 1]
        const summed = tf.sum(tf.mul(hist, tf.expandDims(valid, 2)), 1); // [B, D]
        u = tf.reshape(tf.div(summed, count), [B, 1, D]);
      }
      const Gu = u.shape[1];
      // A pad when the history is empty: the pad row then acts as a learned "no last item".
      const last = tf.slice(hist, [0, H - 1, 0], [B, 1, D]); // [B, 1, D]
      // First MLP layer on [u, c, u*c, last*c] split by block: u's block is computed once per
      // sample in pooling mode.
      const hu = tf.reshape(tf.matMul(tf.reshape(u, [B * Gu, D]), this.p('w1u')), [B, Gu, Hd]);
      const hc = tf.reshape(tf.matMul(tf.reshape(cand, [B * G, D]), this.p('w1c')), [B, G, Hd]);
      const hx = tf.reshape(tf.matMul(tf.reshape(tf.mul(u, cand), [B * G, D]), this.p('w1x')), [B, G, Hd]);
      const hl = tf.reshape(tf.matMul(tf.reshape(tf.mul(last, cand), [B * G, D]), this.p('w1l')), [B, G, Hd]);
      const h1 = tf.relu(tf.add(tf.add(tf.add(tf.add(hc, hu), hx), hl), this.p('b1'))); // [B, G, Hd]
      const out = tf.reshape(tf.matMul(tf.reshape(h1, [B * G, Hd]), this.p('w2')), [B, G]);
      const bias = tf.reshape(tf.gather(this.p('itemBias'), tf.reshape(candidates, [-1])), [B, G]);
      return tf.add(tf.add(out, bias), this.p('b2')) as tf.Tensor2D;
    });
  }

  /**
   * Host-side convenience: logits for B histories x G candidates, chunked by `batchSize`
   * histories per pass. `items` is [B*G] row-major; entries < 0 (no item) score as NaN.
   */
  async scoreItems(histories: ArrayLike<Int32Array>, items: Int32Array, G: number, batchSize = 256): Promise<Float32Array> {
    const B = histories.length;
    if (items.length !== B * G) throw new Error(`scoreItems: ${items.length} items for ${B} histories x ${G}`);
    const out = new Float32Array(B * G);
    const H = this.arch.maxHistory;
    for (let start = 0; start < B; start += batchSize) {
      const end = Math.min(B, start + batchSize);
      const n = end - start;
      const hist = packHistories(histories, start, end, H, this.padIndex);
      const cand = new Int32Array(n * G);
      for (let i = 0; i < n * G; i++) {
        const it = items[start * G + i];
        cand[i] = it >= 0 ? it : 0; // masked below
      }
      const h = tf.tensor2d(hist, [n, H], 'int32');
      const c = tf.tensor2d(cand, [n, G], 'int32');
      const l = this.logits(h, c);
      out.set((await l.data()) as Float32Array, start * G);
      tf.dispose([h, c, l]);
    }
    for (let i = 0; i < B * G; i++) if (items[i] < 0) out[i] = NaN;
    return out;
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    this.params.clear();
  }
}

/**
 * Embedding lookup: rows of `table` [N, D] at `indices` [M] -> [M, D]. On wasm (tfjs 4.22)
 * GatherV2 of 5120 rows x 32 takes ~16 ms while GatherNd takes ~0.3 ms, so wasm uses GatherNd
 * with the gather gradient (a segment sum into the table's rows) given explicitly; GatherNd has
 * no gradient in tfjs and is slower than GatherV2 on cpu, so other backends keep tf.gather.
 */
export function lookupRows(table: tf.Tensor2D, indices: tf.Tensor1D): tf.Tensor2D {
  if (tf.getBackend() !== 'wasm') return tf.gather(table, indices);
  const rows = table.shape[0];
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: tf.gatherND(args[0] as tf.Tensor, tf.expandDims(indices, 1)) as tf.Tensor2D,
    gradFunc: (dy: tf.Tensor2D) => [tf.unsortedSegmentSum(dy, indices, rows)],
  }));
  return f(table);
}

/**
 * Pack histories[start..end) into an int32 [n*H] row-major block: the last H items of each,
 * right-aligned, left-padded with `pad`.
 */
export function packHistories(histories: ArrayLike<Int32Array>, start: number, end: number, H: number, pad: number): Int32Array {
  const n = end - start;
  const out = new Int32Array(n * H).fill(pad);
  for (let b = 0; b < n; b++) {
    const h = histories[start + b];
    const take = Math.min(H, h.length);
    out.set(h.subarray(h.length - take), b * H + (H - take));
  }
  return out;
}
