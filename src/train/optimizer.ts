/**
 * AdamW (decoupled weight decay, Loshchilov & Hutter) with global-norm gradient clipping.
 * Written here rather than using tf.train.adam because tfjs has no decoupled weight decay and
 * because checkpoints need the moment tensors by name to resume bit-for-bit.
 */
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { loadCheckpoint, OPTIMIZER_STATE_PREFIX, resolveCheckpoint, type CheckpointState, type LoadedCheckpoint } from '../model/checkpoint.js';

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay: number;
  /** Global gradient-norm clip; 0 disables. */
  gradClip: number;
  /** Names of variables exempt from weight decay (biases, LayerNorm gains, embeddings by choice). */
  noDecay?: (name: string) => boolean;
}

export interface StepStats {
  /** Global L2 norm of the gradients before clipping. */
  gradNorm: number;
  /** Whether clipping scaled the gradients down. */
  clipped: boolean;
  /** The loss passed to `step`, read back with the norm. */
  loss?: number;
}

/**
 * A non-trainable zero variable shaped like `p`; the temporary zeros tensor is released. tfjs
 * variable names are global, so moments get automatic names: two optimizers may coexist.
 */
function zeroVariable(p: tf.Tensor): tf.Variable {
  const z = tf.zerosLike(p);
  const v = tf.variable(z, false);
  z.dispose();
  return v;
}

export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  /** Number of updates applied so far (bias correction uses it). */
  t = 0;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();

  constructor(
    private readonly params: Map<string, tf.Variable>,
    private readonly opts: AdamWOptions,
  ) {
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    for (const [name, p] of params) {
      this.m.set(name, zeroVariable(p));
      this.v.set(name, zeroVariable(p));
    }
  }

  /**
   * Apply one update at learning rate `lr`. `grads` is keyed like `params` or by the tfjs
   * variable name (what tf.variableGrads returns); a variable without a gradient (the loss does
   * not touch it) is skipped. Grad tensors are not disposed here.
   *
   * The gradient norm (for clipping) is the step's one read-back, asynchronous so that a GPU
   * backend works (docs/PERFORMANCE.md); pass the step's `loss` to have it read in the same
   * transfer. A non-finite loss or norm skips the update: the caller sees it in the returned
   * stats and stops, and the last checkpoint stays good.
   */
  async step(gradsIn: Record<string, tf.Tensor>, lr: number, loss?: tf.Scalar): Promise<StepStats> {
    const grads: Record<string, tf.Tensor> = {};
    for (const [n, p] of this.params) {
      const g = gradsIn[n] ?? gradsIn[p.name];
      if (g !== undefined) grads[n] = g;
    }
    const names = Object.keys(grads);
    if (names.length === 0) throw new Error('AdamW.step: no gradient matches any parameter (keys or variable names)');
    const both = tf.tidy(() => {
      const norm = tf.sqrt(tf.addN(names.map((n) => tf.sum(tf.square(grads[n])))));
      return loss ? tf.stack([norm, tf.cast(loss, 'float32')]) : tf.reshape(norm, [1]); // [1 or 2]
    });
    const read = (await both.data()) as Float32Array;
    both.dispose();
    const gradNorm = read[0];
    const lossValue = loss ? read[1] : undefined;
    // An overflowing gradient must not reach the moments or the weights.
    if (!Number.isFinite(gradNorm) || (lossValue !== undefined && !Number.isFinite(lossValue))) return { gradNorm, clipped: false, loss: lossValue };
    this.t += 1;
    const clip = this.opts.gradClip;
    const scale = clip > 0 && gradNorm > clip ? clip / (gradNorm + 1e-6) : 1;
    const bc1 = 1 - Math.pow(this.beta1, this.t);
    const bc2 = 1 - Math.pow(this.beta2, this.t);
    tf.tidy(() => {
      for (const n of names) {
        const p = this.params.get(n)!;
        const g = scale === 1 ? grads[n] : tf.mul(grads[n], scale);
        const m = this.m.get(n)!;
        const v = this.v.get(n)!;
        m.assign(tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1)));
        v.assign(tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2)));
        const update = tf.div(tf.div(m, bc1), tf.add(tf.sqrt(tf.div(v, bc2)), this.eps));
        const decay = this.opts.weightDecay > 0 && !(this.opts.noDecay?.(n) ?? false) ? this.opts.weightDecay : 0;
        // Decoupled decay: p <- p - lr*(update + wd*p).
        p.assign(decay > 0 ? tf.sub(p, tf.mul(tf.add(update, tf.mul(p, decay)), lr)) : tf.sub(p, tf.mul(update, lr)));
      }
    });
    return { gradNorm, clipped: scale !== 1, loss: lossValue };
  }

  /** Moment tensors by name (`adam_m/<param>`, `adam_v/<param>`), for checkpoints. */
  stateTensors(): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    for (const [n, t] of this.m) out.set(`${OPTIMIZER_STATE_PREFIX}m/${n}`, t);
    for (const [n, t] of this.v) out.set(`${OPTIMIZER_STATE_PREFIX}v/${n}`, t);
    return out;
  }

  /**
   * Restore moments and the step count from checkpoint tensors (`source` names the checkpoint in
   * errors). Every parameter must have both moments there: silently zero moments would make a
   * resumed or carried-over run take lr-sized sign steps.
   */
  loadState(tensors: Map<string, tf.Tensor>, t: number, source: string): void {
    // Every source is found before any is assigned, so a refused checkpoint leaves the state as it was.
    const pairs: [tf.Variable, tf.Tensor][] = [];
    for (const [k, moments] of [['m', this.m], ['v', this.v]] as const) {
      for (const [n, moment] of moments) {
        const src = tensors.get(`${OPTIMIZER_STATE_PREFIX}${k}/${n}`);
        if (!src) throw new UserError(`checkpoint ${source} holds no optimizer moment "${k}" for "${n}"; train that stage again with this build`);
        pairs.push([moment, src]);
      }
    }
    for (const [moment, src] of pairs) moment.assign(src);
    this.t = t;
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}

/** Linear warmup to `lr` over `warmupSteps`, then cosine decay to `lr*minLrRatio` at `totalSteps`. */
export function learningRate(step: number, s: { lr: number; warmupSteps: number; minLrRatio: number }, totalSteps: number): number {
  if (s.warmupSteps > 0 && step < s.warmupSteps) return (s.lr * (step + 1)) / s.warmupSteps;
  const span = Math.max(1, totalSteps - s.warmupSteps);
  const progress = Math.min(1, Math.max(0, (step - s.warmupSteps) / span));
  const minLr = s.lr * s.minLrRatio;
  return minLr + 0.5 * (s.lr - minLr) * (1 + Math.cos(Math.PI * progress));
}

/**
 * Copy the moments and step count of a checkpoint already read into `optimizer` (a UserError names
 * the first parameter without moments there). Returns the step count. RL's rl.optimizerFromSft:
 * the policy continues with the SFT optimizer's estimate of each weight's gradient scale instead
 * of zeros (docs/METHOD.md 2.4). `ck.tensors` stay the caller's to dispose.
 */
export function loadOptimizerState(ck: LoadedCheckpoint, optimizer: AdamW): number {
  optimizer.loadState(ck.tensors, ck.state.optimizerStep, ck.dir);
  return ck.state.optimizerStep;
}

/**
 * Resume a stage: when `resume` is set and the stage has a last checkpoint, load it (refusing
 * another config hash), copy its weights into `params` and its moments into `optimizer`, and
 * return its state (step, RNG, best, extra); otherwise null. Every stage resumes through this.
 */
export function restoreLast(
  stageDir: string,
  stage: string,
  configHash: string,
  resume: boolean,
  params: Map<string, tf.Variable>,
  optimizer: AdamW,
): CheckpointState | null {
  if (!resume || !fs.existsSync(path.join(stageDir, 'last.json'))) return null;
  const ck = loadCheckpoint(resolveCheckpoint(stageDir, 'last'), { stage, configHash });
  try {
    for (const [name, v] of params) {
      const t = ck.tensors.get(name);
      if (!t) throw new UserError(`${stage} checkpoint ${ck.dir} lacks "${name}"`);
      v.assign(t);
    }
    optimizer.loadState(ck.tensors, ck.state.optimizerStep, ck.dir);
  } finally {
    tf.dispose([...ck.tensors.values()]);
  }
  return ck.state;
}
