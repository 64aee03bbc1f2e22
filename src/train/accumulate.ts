/**
 * Gradient accumulation: the loss and gradients of one optimizer step computed from micro-batches,
 * so a batch whose activations do not fit in memory (wasm has a 4 GiB ceiling) still takes the
 * same step. Each stage weights its micro-batch losses so that they sum to the full-batch loss
 * (a mean over the batch is Σ_k (n_k / n) · mean_k); the gradient of a sum is the sum of the
 * gradients, so the accumulated step equals the full-batch step up to float summation order.
 * With one micro-batch this is exactly tf.variableGrads.
 */
import * as tf from '@tensorflow/tfjs';

/** `[start, end)` row ranges of at most `micro` rows covering `n` rows; micro 0 = one range. */
export function microRanges(n: number, micro: number): [number, number][] {
  const size = micro > 0 ? Math.min(micro, n) : n;
  const out: [number, number][] = [];
  for (let s = 0; s < n; s += size) out.push([s, Math.min(n, s + size)]);
  return out.length > 0 ? out : [[0, 0]];
}

export interface MicroLoss {
  /** This micro-batch's share of the full-batch loss (already weighted). */
  loss: tf.Scalar;
  /** Diagnostics summed over micro-batches like the loss (weight them the same way). */
  aux?: tf.Scalar[];
}

/** One pass: its input tensors, made outside the gradient tape, and its loss over them. */
export interface MicroPass {
  inputs: tf.Tensor[];
  loss: () => MicroLoss;
}

export interface AccumulatedGrads {
  /** Σ_k loss_k: the full-batch loss. */
  value: tf.Scalar;
  grads: tf.NamedTensorMap;
  /** Σ_k aux_k, one scalar per aux entry. */
  aux: tf.Scalar[];
}

/**
 * Σ over `parts` micro-batches of pass k's loss and of its gradients w.r.t. `vars`. Pass k's
 * inputs are built just before its forward pass and freed right after its backward pass (outside
 * the tape: some backward kernels read their inputs' data), so only the running sums stay alive
 * between passes: peak memory is one pass's activations plus one copy of the gradients. The
 * caller disposes value, grads and aux.
 */
export function accumulatedGrads(vars: tf.Variable[], parts: number, passOf: (part: number) => MicroPass): AccumulatedGrads {
  let value: tf.Scalar | null = null;
  let grads: tf.NamedTensorMap | null = null;
  let aux: tf.Scalar[] = [];
  for (let k = 0; k < parts; k++) {
    const pass = passOf(k);
    let kept: tf.Scalar[] = [];
    let g: { value: tf.Scalar; grads: tf.NamedTensorMap };
    try {
      g = tf.variableGrads(() => {
        const r = pass.loss();
        kept = (r.aux ?? []).map((t) => tf.keep(t));
        return r.loss;
      }, vars);
    } finally {
      tf.dispose(pass.inputs);
    }
    if (value === null || grads === null) {
      value = g.value;
      grads = g.grads;
      aux = kept;
      continue;
    }
    const v0: tf.Scalar = value;
    const g0: tf.NamedTensorMap = grads;
    const a0: tf.Scalar[] = aux;
    value = tf.add(v0, g.value) as tf.Scalar;
    grads = Object.fromEntries(Object.entries(g0).map(([name, t]) => [name, tf.add(t, g.grads[name])]));
    aux = a0.map((t, i) => tf.add(t, kept[i]) as tf.Scalar);
    tf.dispose([v0, g.value, ...Object.values(g0), ...Object.values(g.grads), ...a0, ...kept]);
  }
  if (value === null || grads === null) throw new Error('accumulatedGrads: parts must be >= 1');
  return { value, grads, aux };
}
