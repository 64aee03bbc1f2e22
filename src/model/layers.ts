/**
 * Small building blocks of the policy transformer, written with tfjs-core ops only (they run on
 * every backend). Linear layers take 2-D inputs: a plain `matMul` of [N, in] x [in, out] is the
 * fast path on wasm (never the transpose flags, docs/METHOD.md 6).
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../rng.js';

/** tf.tidy for a function returning an object of tensors (typed interfaces are not TensorContainer to tfjs's types). */
export function tidyObj<T>(fn: () => T): T {
  return tf.tidy(fn as unknown as () => tf.TensorContainer) as unknown as T;
}

/** Dispose the tensors of a list that may hold nulls. */
export function disposeAll(ts: (tf.Tensor | null | undefined)[]): void {
  for (const t of ts) t?.dispose();
}

/** Named weights: AdamW and checkpoints take this map. */
export type Params = Map<string, tf.Variable>;

/** Additive attention bias for a forbidden key: large but finite, so a row with no allowed key stays finite. */
export const MASKED = -1e9;

/** Values ~ N(0, std^2) drawn from the run's Rng (not tfjs's generator), so init is a function of the seed. */
export function normalInit(rng: Rng, shape: number[], std: number): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.normal() * std;
  return tf.tensor(v, shape, 'float32');
}

/** x [N, in] x w [in, out] + b [out] -> [N, out]. */
export function linear(x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor): tf.Tensor2D {
  const y = tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D);
  return (b ? tf.add(y, b) : y) as tf.Tensor2D;
}

/** Whether layerNorm's gradient is the closed form below (a switch for tests and measurements). */
let closedFormLayerNormGrad = true;

/** Turn layerNorm's closed-form gradient on or off; returns the previous setting. */
export function setClosedFormLayerNormGrad(on: boolean): boolean {
  const was = closedFormLayerNormGrad;
  closedFormLayerNormGrad = on;
  return was;
}

/** LayerNorm over the last axis, gain g and bias b of shape [D]. */
export function layerNorm(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, eps = 1e-5): tf.Tensor {
  if (!closedFormLayerNormGrad) return layerNormForward(x, g, b, eps).y;
  // The forward is the same ops as without the switch; the gradient is its closed form (about 11
  // kernels instead of the ~25 autodiff records, among them tfjs's mean gradient, a multiply by a
  // tensor of ones and a divide, twice). With xh = (x - mean) * r, r = 1 / sqrt(var + eps):
  //   dx = r * (dxh - mean(dxh) - xh * mean(dxh * xh)),  dxh = dy * g,
  //   dg = sum(dy * xh) and db = sum(dy) over the leading axes.
  const f = tf.customGrad(((xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor, save: tf.GradSaveFunc) => {
    const { y, xh, r } = layerNormForward(xi, gi, bi, eps);
    save([xh, r, gi]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const d = dy as tf.Tensor;
        const [xhS, rS, gS] = saved;
        const lead = [...Array(d.rank - 1).keys()];
        const dxh = tf.mul(d, gS);
        const dx = tf.mul(tf.sub(tf.sub(dxh, tf.mean(dxh, -1, true)), tf.mul(xhS, tf.mean(tf.mul(dxh, xhS), -1, true))), rS);
        return [dx, tf.sum(tf.mul(d, xhS), lead), tf.sum(d, lead)];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(x, g, b);
}

/** LayerNorm's forward: y, the normalized xh [.., D] and r = 1 / sqrt(var + eps) [.., 1]. */
function layerNormForward(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, eps: number): { y: tf.Tensor; xh: tf.Tensor; r: tf.Tensor } {
  const { mean, variance } = tf.moments(x, -1, true);
  const r = tf.rsqrt(tf.add(variance, eps));
  const xh = tf.mul(tf.sub(x, mean), r);
  return { y: tf.add(tf.mul(xh, g), b), xh, r };
}

/**
 * GELU, sigmoid approximation x * sigmoid(1.702 x) (Hendrycks & Gimpel). The tanh form needs
 * pow and tanh, which cost ~10x more than sigmoid on wasm.
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(tf.mul(x, 1.702)));
}

/**
 * Inverted dropout. The op seed is drawn from `rng`, so masks are a function of the run's seed
 * and a resumed run replays them exactly. `rng` null or rate 0 = inference (identity).
 */
export function dropout(x: tf.Tensor, rate: number, rng: Rng | null | undefined): tf.Tensor {
  if (!rng || rate <= 0) return x;
  return tf.dropout(x, rate, undefined, rng.nextU32());
}

/** log p of the chosen class: logProbs [..., K], index [...] int32 -> [...]. Differentiable in logProbs. */
export function pick(logProbs: tf.Tensor, index: tf.Tensor): tf.Tensor {
  const k = logProbs.shape[logProbs.shape.length - 1];
  return tf.sum(tf.mul(logProbs, tf.oneHot(index as tf.Tensor1D, k)), -1);
}

/** Entropy (nats) of the distribution given by log-probs over the last axis. */
export function entropy(logProbs: tf.Tensor): tf.Tensor {
  return tf.neg(tf.sum(tf.mul(tf.exp(logProbs), logProbs), -1));
}
