/**
 * The SASRec baseline's training stage (docs/METHOD.md 2.9): next-item prediction at every
 * position of a window of at most sasrec.maxLen + 1 consecutive training items (the same windows
 * and epoch plan as SFT), with a full softmax over the catalog (`ce`) or the original paper's one
 * uniformly drawn negative per position (`bce`). AdamW on the shared stage loop
 * (src/train/loop.ts); validation HR@10 on the same users as the policy's picks the best step.
 */
import * as tf from '@tensorflow/tfjs';
import type { Config } from '../config/schema.js';
import { UserError } from '../errors.js';
import { evaluateSasrec } from '../eval/sasrec.js';
import { Sasrec, type SasrecArch } from '../model/sasrec.js';
import { Rng, mixSeed } from '../rng.js';
import type { StageContext } from './context.js';
import { hashOf } from '../hash.js';
import { meanReports, runStageLoop, selectionK } from './loop.js';
import { stageEvalKey } from './pipeline.js';
import { AdamW } from './optimizer.js';
import { BatchPlan, trainingWindow } from './sft.js';

export function sasrecArch(config: Config, numItems: number): SasrecArch {
  const s = config.sasrec;
  return { numItems, dim: s.dim, layers: s.layers, heads: s.heads, maxLen: s.maxLen, dropout: s.dropout };
}

/** What the stage depends on: change any of it and it trains anew. */
export function sasrecHash(config: Config, dataHash: string): string {
  return hashOf({ seed: config.seed, data: dataHash, sasrec: config.sasrec, eval: stageEvalKey(config) });
}

/**
 * One batch of windows as model inputs and targets, both [B, T] ids (item + 1, 0 = padding),
 * left-padded: input position t holds window[t], target position t holds window[t + 1].
 */
export function sasrecBatch(windows: readonly ArrayLike<number>[], T: number): { items: Int32Array; targets: Int32Array } {
  const items = new Int32Array(windows.length * T);
  const targets = new Int32Array(windows.length * T);
  windows.forEach((w, b) => {
    const n = w.length - 1; // predicted positions
    for (let t = 0; t < n; t++) {
      items[b * T + T - n + t] = w[t] + 1;
      targets[b * T + T - n + t] = w[t + 1] + 1;
    }
  });
  return { items, targets };
}

export type SasrecStageResult = { bestStep: number; bestMetric: number; finalStep: number };

export async function trainSasrec(ctx: StageContext): Promise<SasrecStageResult> {
  const { config, inputs } = ctx;
  const sc = config.sasrec;
  const I = inputs.dataset.itemIds.length;
  const T = sc.maxLen;
  const train = inputs.splits.train;
  const users = train.map((s, u) => (s.length >= 2 ? u : -1)).filter((u) => u >= 0);
  if (users.length === 0) throw new UserError('sasrec: no user has two training items; check the data');

  const arch = sasrecArch(config, I);
  const model = Sasrec.create(arch, ctx.rng);
  const optimizer = new AdamW(model.params, { weightDecay: sc.weightDecay, gradClip: sc.gradClip, noDecay: Sasrec.noDecay });
  const vars = [...model.params.values()];
  let dataSeed = ctx.rng.nextU32();
  let plan: BatchPlan | null = null;
  const selK = selectionK(config);
  try {
    ctx.log(`sasrec: ${I} items, ${users.length} users, ${sc.layers} blocks of dim ${sc.dim}, ${sc.loss} loss, ${sc.steps} steps of ${sc.batchSize}`);
    return await runStageLoop({
      stage: 'sasrec',
      ctx,
      configHash: sasrecHash(config, inputs.manifest.hash),
      steps: sc.steps,
      schedule: sc,
      params: model.params,
      optimizer,
      logEvery: 10,
      extra: () => ({ arch, dataSeed }),
      onResume: (state) => {
        dataSeed = state.extra!.dataSeed as number;
      },
      step: async (step, lr, rng) => {
        plan ??= new BatchPlan(users, Int32Array.from(train, (s) => Math.min(s.length, T + 1)), sc.batchSize, dataSeed);
        const stepRng = new Rng(mixSeed(dataSeed, step, 0x5a5));
        const windows = plan.batch(step).map((u) => trainingWindow(train[u], T + 1, 'all', stepRng));
        const { items, targets } = sasrecBatch(windows, T);
        // The predicted positions, and their targets as item indices 0..I-1.
        const rows: number[] = [];
        const target: number[] = [];
        targets.forEach((id, r) => {
          if (id > 0) {
            rows.push(r);
            target.push(id - 1);
          }
        });
        const N = rows.length;
        // bce: one uniformly drawn negative per position, never the target itself.
        const negs = sc.loss === 'bce' ? Int32Array.from(target, (t) => 1 + ((t + 1 + stepRng.int(I - 1)) % I)) : null;
        const itemsT = tf.tensor2d(items, [windows.length, T], 'int32');
        const rowsT = tf.tensor1d(rows, 'int32');
        const { value, grads } = tf.variableGrads(() => {
          const h = tf.gather(model.hidden(itemsT, rng), rowsT) as tf.Tensor2D; // [N, D]
          if (negs) {
            const pos = model.scoreItems(h, tf.tensor1d(target.map((t) => t + 1), 'int32')); // [N]
            const neg = model.scoreItems(h, tf.tensor1d(negs, 'int32')); // [N]
            return tf.mean(tf.add(tf.softplus(tf.neg(pos)), tf.softplus(neg))) as tf.Scalar;
          }
          // -log softmax(h · E)[target], picked from the flat [N*I] log-probs (a 1-D gather has a gradient on every backend).
          const lsm = tf.reshape(tf.logSoftmax(model.scoreAll(h)), [N * I]);
          return tf.neg(tf.mean(tf.gather(lsm, tf.tensor1d(target.map((t, n) => n * I + t), 'int32')))) as tf.Scalar;
        }, vars);
        const stats = await optimizer.step(grads, lr, value as tf.Scalar); // one read-back: loss and gradient norm
        const loss = stats.loss!;
        const gradNorm = Number.isFinite(loss) ? stats.gradNorm : Number.NaN;
        tf.dispose([value, itemsT, rowsT, ...Object.values(grads)]);
        return { loss, gradNorm, positions: N };
      },
      summarize: (reports, seconds) => {
        const m = meanReports(reports);
        const positions = reports.reduce((s, r) => s + r.positions, 0);
        return { loss: m.loss, gradNorm: m.gradNorm, positionsPerSec: seconds > 0 ? positions / seconds : 0 };
      },
      progressFields: (m) => ({ loss: m.loss, 'pos/s': Math.round(m.positionsPerSec) }),
      validate: async (atStep) => {
        const v = await evaluateSasrec(model, inputs, config, { split: 'valid', maxUsers: config.eval.maxUsers });
        ctx.metrics({ step: atStep, kind: 'valid', users: v.users, seconds: v.seconds, ...v.metrics });
        return v.metrics[`hr@${selK}`];
      },
      metricName: `valid HR@${selK}`,
    });
  } finally {
    model.dispose();
    optimizer.dispose();
  }
}
