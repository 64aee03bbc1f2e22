/**
 * The losses of docs/METHOD.md 2.4, as tensor functions whose value is differentiable w.r.t. the policy.
 * Each returns per-sample terms [B] (so the gate can weight them) and its diagnostics as scalars.
 *
 *   NLL_i  = -(1/L) Σ_t log pi(y_{i,t} | ...)
 *   GRPO_i = -(1/G) Σ_g (1/L) Σ_t min(ratio·A, clip(ratio, 1-ε, 1+ε)·A) + β·KL_k3(pi || pi_ref)
 *   Loss   = (1/B) Σ_i [ wNll·NLL_i + λ·c_i·GRPO_i ]
 */
import * as tf from '@tensorflow/tfjs';

export interface NllTerms {
  /** [B] */
  perSample: tf.Tensor1D;
}

/** gtLogProbs: [B, L] per-token log-probs of the ground truth under pi. */
export function nllTerms(gtLogProbs: tf.Tensor2D): NllTerms {
  return { perSample: tf.neg(tf.mean(gtLogProbs, 1)) as tf.Tensor1D };
}

export interface GrpoInputs {
  /** [B, G, L] log pi(o_t | ...) under the policy being trained (differentiable). */
  logProbs: tf.Tensor3D;
  /** [B, G, L] log pi_old at sampling time (constants). */
  oldLogProbs: tf.Tensor3D;
  /** [B, G, L] log pi_ref of the frozen SFT policy (constants), or null when β = 0. */
  refLogProbs: tf.Tensor3D | null;
  /** [B, G] group-normalised advantages (constants). */
  advantages: tf.Tensor2D;
  epsilon: number;
  beta: number;
}

export interface GrpoTerms {
  /** [B] */
  perSample: tf.Tensor1D;
  /** Scalar diagnostics: share of tokens where the clipped branch is active; mean k3 KL; mean ratio. */
  diagnostics: { clipFrac: tf.Scalar; kl: tf.Scalar; ratioMean: tf.Scalar };
}

/**
 * Per-token k3 estimator of KL(pi || pi_ref) (Schulman): exp(ref - logp) - (ref - logp) - 1,
 * unbiased with samples from pi and always >= 0. Shape follows the inputs.
 */
export function klK3(logProbs: tf.Tensor, refLogProbs: tf.Tensor): tf.Tensor {
  const d = tf.sub(refLogProbs, logProbs);
  return tf.sub(tf.sub(tf.exp(d), d), 1);
}

export function grpoTerms(x: GrpoInputs): GrpoTerms {
  const [B, G, L] = x.logProbs.shape;
  const ratio = tf.exp(tf.sub(x.logProbs, x.oldLogProbs)); // [B, G, L]
  const adv = tf.reshape(x.advantages, [B, G, 1]); // broadcast over tokens
  const unclipped = tf.mul(ratio, adv);
  const clippedRatio = tf.clipByValue(ratio, 1 - x.epsilon, 1 + x.epsilon);
  const clipped = tf.mul(clippedRatio, adv);
  const surrogate = tf.minimum(unclipped, clipped); // [B, G, L]
  let perSample = tf.neg(tf.mean(tf.reshape(surrogate, [B, G * L]), 1)); // mean over g and t = (1/G)(1/L) Σ Σ
  let kl: tf.Scalar = tf.scalar(0);
  if (x.refLogProbs && x.beta > 0) {
    const klTok = klK3(x.logProbs, x.refLogProbs); // [B, G, L]
    const klSample = tf.mean(tf.reshape(klTok, [B, G * L]), 1); // [B]
    perSample = tf.add(perSample, tf.mul(klSample, x.beta));
    kl = tf.mean(klSample) as tf.Scalar;
  } else if (x.refLogProbs) {
    kl = tf.mean(klK3(x.logProbs, x.refLogProbs)) as tf.Scalar;
  }
  // A token is "clipped" when the clipped branch is the smaller one and differs (PPO convention).
  const clipFrac = tf.mean(tf.cast(tf.less(clipped, unclipped), 'float32')) as tf.Scalar;
  return { perSample: perSample as tf.Tensor1D, diagnostics: { clipFrac, kl, ratioMean: tf.mean(ratio) as tf.Scalar } };
}

export interface TotalInputs {
  /** [B] */
  nll: tf.Tensor1D;
  /** [B], or null when no sample is admitted (the GRPO pass is then skipped entirely). */
  grpo: tf.Tensor1D | null;
  /** [B] gate decisions c_i in {0, 1} (constants: no gradient flows through the gate). */
  gate: Float32Array;
  wNll: number;
  lambda: number;
}

/** Loss = (1/B) Σ_i [wNll·NLL_i + λ·c_i·GRPO_i]. Normalised by B, not by the admitted count. */
export function totalLoss(x: TotalInputs): tf.Scalar {
  const B = x.gate.length;
  let perSample: tf.Tensor = tf.mul(x.nll, x.wNll);
  if (x.grpo) perSample = tf.add(perSample, tf.mul(x.grpo, tf.mul(tf.tensor1d(x.gate), x.lambda)));
  return tf.div(tf.sum(perSample), B) as tf.Scalar;
}
