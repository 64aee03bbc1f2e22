/**
 * The RL stage (docs/METHOD.md 2.4-2.5): from the SFT policy (a frozen copy is the reference pi_ref) and
 * the trained ranker. Each step, for B training prompts:
 *   1. sample G rollouts from pi_old (the current policy, no gradient), with their per-token
 *      log-probs and entropies, and the ground truth's log-prob from the same pass;
 *   2. reward every rollout with the ranker (one batched call that also scores the ground truth
 *      and M in-batch negatives, which the discriminability diagnostic needs);
 *   3. group-normalise the advantages;
 *   4. gate each sample (the algorithm's rule over difficulty and discriminability);
 *   5. ppoEpochs updates of Loss = (1/B) Σ_i [wNll·NLL_i + λ·c_i·GRPO_i], with the NLL and the
 *      rollouts' log-probs from ONE pass over [rollouts; ground truth] that shares the prompt.
 * Dropout is off in this stage, so on the first PPO epoch the ratio is exactly 1 (as in TRL with
 * one iteration) and pi_old is the policy that sampled.
 *
 * Resume, the schedule, validation, checkpoints, the divergence guard and interrupts are the
 * shared stage loop's (src/train/loop.ts); this file brings the batch, the loss and the diagnostics.
 */
import * as tf from '@tensorflow/tfjs';
import type { Config } from '../config/schema.js';
import type { Catalog } from '../data/sid/catalog.js';
import { trueUtility } from '../data/synthetic.js';
import type { Dataset } from '../data/types.js';
import { UserError } from '../errors.js';
import { catalogOf, evaluatePolicy } from '../eval/evaluate.js';
import { policyDecoder, sample } from '../model/decoding.js';
import { loadCheckpoint, resolveCheckpoint } from '../model/checkpoint.js';
import { loadRanker, policyFromCheckpoint } from '../model/load.js';
import { Policy, buildPrompts, disposePrompts, slicePrompts, type PromptBatch } from '../model/policy.js';
import type { Ranker } from '../model/ranker.js';
import { groupAdvantages } from '../rl/advantages.js';
import { marginDiscriminator, type Discriminator } from '../rl/discriminability.js';
import { gateDiagnostics, gates, inBatchNegatives, negativeSet, type GateSample } from '../rl/gates.js';
import { grpoTerms, nllTerms, totalLoss } from '../rl/losses.js';
import { rankerReliability } from '../rl/reliability.js';
import { rewards as rewardOf } from '../rl/reward.js';
import type { Rng } from '../rng.js';
import { mean } from '../stats.js';
import { meanOverRlSteps, readMetrics } from '../runs/metrics.js';
import type { StageContext } from './context.js';
import { accumulatedGrads, microRanges } from './accumulate.js';
import { runStageLoop } from './loop.js';
import { AdamW, loadOptimizerState } from './optimizer.js';
import { buildDiscriminator, discriminatorRng } from './discriminators.js';
import { stageHash } from './pipeline.js';

/** One RL training prompt: the user's training prefix up to `position` predicts the item there. */
export interface RlPrompt {
  user: number;
  history: Int32Array;
  target: number;
}

/** Every (user, position ≥ 1) of the training prefixes: the RL stage's prompt pool. */
export function rlPromptPool(train: Int32Array[]): { user: number; position: number }[] {
  const pool: { user: number; position: number }[] = [];
  train.forEach((seq, user) => {
    for (let t = 1; t < seq.length; t++) pool.push({ user, position: t });
  });
  return pool;
}

/** Everything one step logs (docs/METHOD.md 2.5's list), plain numbers. */
export interface RlStepStats {
  loss: number;
  nll: number;
  /** Mean GRPO_i over admitted samples (0 when none). */
  grpo: number;
  admission: number;
  rateHard: number;
  rateDisc: number;
  /** Share of samples both hard and discriminable. */
  overlap: number;
  /** λ·mean(c): the RL weight the gate leaves (Loss is normalised by B). */
  effectiveRlWeight: number;
  rewardMean: number;
  rewardStd: number;
  fracZeroStd: number;
  fracInvalid: number;
  kl: number;
  clipFrac: number;
  entropy: number;
  gradNorm: number;
  /** Synthetic world only: mean per-sample ranker reliability among admitted / rejected samples. */
  reliabilityAdmitted?: number;
  reliabilityRejected?: number;
  /** The estimator's held-out-logs proxy of that reliability (docs/METHOD.md 2.5), on admitted / rejected samples: a proxy, not the truth. */
  proxyAdmitted: number;
  proxyRejected: number;
}

export interface RlModels {
  policy: Policy;
  /** Frozen SFT policy (pi_ref). */
  ref: Policy;
  ranker: Ranker;
  catalog: Catalog;
  optimizer: AdamW;
  /** gate.discriminability.estimator, built for `ranker` (default: the margin test). */
  discriminator?: Discriminator;
}

export interface RlStepOptions {
  config: Config;
  dataset: Dataset;
  /** Item codes [I*L] of the semantic IDs. */
  codes: Int32Array;
  rng: Rng;
  lr: number;
  /** Admission probability of the random-gate control. */
  randomP: number;
  /** λ in effect: rl.lambda, or the mean admission rate of rl.lambdaMatchRun. */
  lambda: number;
}

/** One RL step on B prompts. All tensors it makes are released before it returns. */
export async function rlStep(models: RlModels, prompts: RlPrompt[], opts: RlStepOptions): Promise<RlStepStats> {
  const { config, codes, rng } = opts;
  const rc = config.rl;
  const B = prompts.length;
  const G = rc.numGenerations;
  const L = models.policy.layout.levels;
  const M = config.gate.discriminability.inBatchNegatives;
  const rule = gates[rc.algorithm];
  const histories = prompts.map((p) => p.history);
  const targets = Int32Array.from(prompts.map((p) => p.target));
  const gtCodes = new Int32Array(B * L); // [B*L]
  targets.forEach((t, b) => gtCodes.set(codes.subarray(t * L, (t + 1) * L), b * L));
  const prompt: PromptBatch = buildPrompts(models.policy.layout, codes, histories, config.policy.maxHistory);
  try {
    // 1. Rollouts from pi_old, with the ground truth's log-prob from the same prompt cache.
    // rl.constrained masks the sampler with the catalog trie; the log-probs stay the policy's own
    // (unmasked), so pi and pi_old in the ratio are the same function and NLL is unchanged.
    const roll = await sample(policyDecoder(models.policy), prompt, { samples: G, temperature: rc.temperature, rng, targets: gtCodes, mask: rc.constrained ? models.catalog : null });
    const rolloutItems = new Int32Array(B * G); // -1 = hallucination
    for (let i = 0; i < B * G; i++) rolloutItems[i] = models.catalog.lookup(roll.codes.subarray(i * L, (i + 1) * L));

    // 2. One ranker call for [G rollouts | ground truth | M in-batch negatives] per sample.
    const negs = inBatchNegatives(targets, M, rng);
    const C = G + 1 + M;
    const cand = new Int32Array(B * C).fill(-1); // [B, C]
    for (let b = 0; b < B; b++) {
      cand.set(rolloutItems.subarray(b * G, (b + 1) * G), b * C);
      cand[b * C + G] = targets[b];
      cand.set(negs[b], b * C + G + 1);
    }
    const logits = await models.ranker.scoreItems(histories, cand, C); // [B*C], NaN where -1
    const rolloutLogits = new Float32Array(B * G);
    const valid = new Uint8Array(B * G);
    const isGt = new Uint8Array(B * G);
    for (let b = 0; b < B; b++) {
      for (let g = 0; g < G; g++) {
        rolloutLogits[b * G + g] = logits[b * C + g];
        valid[b * G + g] = rolloutItems[b * G + g] >= 0 ? 1 : 0;
        isGt[b * G + g] = rolloutItems[b * G + g] === targets[b] ? 1 : 0;
      }
    }
    const rewards = rewardOf(rolloutLogits, valid, isGt, config.reward); // [B*G]

    // 3. Advantages.
    const adv = groupAdvantages(rewards, B, G);

    // 4. The gate's diagnostics, from the rollout pass alone.
    const samples: GateSample[] = [];
    const disc = new Float64Array(B);
    const proxy = new Float64Array(B);
    const estimate = await (models.discriminator ?? marginDiscriminator).forBatch(histories, cand, C, logits);
    const reliability = new Float64Array(B).fill(Number.NaN);
    const truth = opts.dataset.truth;
    for (let b = 0; b < B; b++) {
      const seqLp = new Float32Array(G);
      let entSum = 0;
      for (let g = 0; g < G; g++) {
        let s = 0;
        for (let l = 0; l < L; l++) {
          s += roll.logProbs[(b * G + g) * L + l];
          entSum += roll.entropies[(b * G + g) * L + l];
        }
        seqLp[g] = s;
      }
      let gtLp = 0;
      for (let l = 0; l < L; l++) gtLp += roll.targetLogProbs![b * L + l];
      const s: GateSample = {
        gtItem: targets[b],
        rolloutItems: rolloutItems.subarray(b * G, (b + 1) * G),
        rolloutLogProbs: seqLp,
        gtLogProb: gtLp,
        meanEntropy: entSum / (G * L),
      };
      samples.push(s);
      // Ranker score of each candidate item of this sample (rollouts, truth, in-batch).
      const scoreOf = new Map<number, number>();
      for (let c = 0; c < C; c++) if (cand[b * C + c] >= 0) scoreOf.set(cand[b * C + c], logits[b * C + c]);
      const negSet = negativeSet(s, negs[b]);
      ({ d: disc[b], proxy: proxy[b] } = estimate(b, targets[b], negSet));
      if (truth) {
        const hist = histories[b];
        const last = hist.length > 0 ? hist[hist.length - 1] : -1;
        const items = [targets[b], ...negSet];
        reliability[b] = rankerReliability(
          items.map((it) => scoreOf.get(it)!),
          items.map((it) => trueUtility(truth, prompts[b].user, last, it)),
        );
      }
    }
    const diag = gateDiagnostics(samples, disc, config.gate);
    const admit = rule.admit(diag, { rng, randomP: opts.randomP }); // [B] c_i
    const gate = Float32Array.from(admit);
    const anyAdmitted = admit.some((c) => c === 1);

    // 5. Updates. Completions = [G rollouts | ground truth]: one shared-prompt pass gives both the
    // rollouts' log-probs and the NLL.
    const completions = new Int32Array(B * (G + 1) * L);
    for (let b = 0; b < B; b++) {
      completions.set(roll.codes.subarray(b * G * L, (b + 1) * G * L), b * (G + 1) * L);
      completions.set(gtCodes.subarray(b * L, (b + 1) * L), (b * (G + 1) + G) * L);
    }
    const compT = tf.tensor3d(completions, [B, G + 1, L], 'int32');
    const oldLp = tf.tensor3d(roll.logProbs, [B, G, L]);
    const advT = tf.tensor2d(adv.values, [B, G]);
    // pi_ref log-probs of the rollouts (constants). Always computed: KL is logged every step.
    const refLp = tf.tidy(() => models.ref.sequenceLogProbs(prompt, tf.slice(compT, [0, 0, 0], [B, G, L]) as tf.Tensor3D).logProbs); // [B, G, L]: rollouts only
    const vars = [...models.policy.params.values()];
    // The update in passes of at most rl.microBatchSize prompts: the loss is (1/B) Σ_i, so each
    // pass contributes its own rows' sum over the full B, and the diagnostics their row share.
    const ranges = microRanges(B, rc.microBatchSize);
    let last = { loss: 0, nll: 0, grpo: 0, kl: 0, clipFrac: 0, gradNorm: 0 };
    try {
      for (let epoch = 0; epoch < rc.ppoEpochs; epoch++) {
        const { value, grads, aux: kept } = accumulatedGrads(vars, ranges.length, (k) => {
          const [s, e] = ranges[k];
          const n = e - s;
          const whole = ranges.length === 1;
          const part = whole ? prompt : slicePrompts(prompt, s, e);
          // Rows [s, e) of the step's constants; the whole batch's own tensors when one pass.
          const [comp, old, ref, advK] = [compT, oldLp, refLp, advT].map((t) => (whole ? t : tf.slice(t, s, n))) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor2D];
          const gatePart = gate.subarray(s, e);
          const share = n / B;
          const loss = () => {
            const scores = models.policy.sequenceLogProbs(part, comp).logProbs; // [n, G+1, L]
            const lp = tf.slice(scores, [0, 0, 0], [n, G, L]) as tf.Tensor3D; // [n, G, L]
            const gtLp = tf.reshape(tf.slice(scores, [0, G, 0], [n, 1, L]), [n, L]) as tf.Tensor2D; // [n, L]
            const nll = nllTerms(gtLp).perSample; // [n]
            const grpo = grpoTerms({ logProbs: lp, oldLogProbs: old, refLogProbs: ref, advantages: advK, epsilon: rc.epsilon, beta: rc.beta });
            const passLoss = totalLoss({ nll, grpo: anyAdmitted ? grpo.perSample : null, gate: gatePart, wNll: rule.wNll, lambda: opts.lambda }); // (1/n) Σ over the pass
            const weighted = (t: tf.Scalar) => (whole ? t : (tf.mul(t, share) as tf.Scalar));
            return {
              loss: weighted(passLoss),
              aux: [weighted(tf.mean(nll)), tf.sum(tf.mul(grpo.perSample, tf.tensor1d(gatePart))) as tf.Scalar, weighted(grpo.diagnostics.kl), weighted(grpo.diagnostics.clipFrac)],
            };
          };
          const inputs = whole ? [] : [part.tokens, part.positions, part.keyBias, part.promptLen, comp, old, ref, advK];
          return { inputs, loss };
        });
        // Two read-backs per update: the loss with the gradient norm, then the diagnostics (queued
        // before the first). A non-finite loss or gradient never reaches the weights (AdamW skips
        // it); the step reports it and the stage loop stops before anything is saved.
        const diagT = tf.stack(kept); // [4]
        const stats = await models.optimizer.step(grads, opts.lr, value);
        const [nllV, grpoSum, klV, clipV] = await diagT.data();
        tf.dispose([value, diagT, ...kept, ...Object.values(grads)]);
        const lossValue = stats.loss!;
        const gradNorm = Number.isFinite(lossValue) ? stats.gradNorm : Number.NaN;
        const nAdmitted = admit.reduce((s, c) => s + c, 0);
        last = { loss: lossValue, nll: nllV, grpo: nAdmitted > 0 ? grpoSum / nAdmitted : 0, kl: klV, clipFrac: clipV, gradNorm };
        if (!Number.isFinite(lossValue) || !Number.isFinite(gradNorm)) break;
      }
    } finally {
      tf.dispose([compT, oldLp, advT, refLp]);
    }

    const admittedRel: number[] = [];
    const rejectedRel: number[] = [];
    reliability.forEach((r, b) => (admit[b] ? admittedRel : rejectedRel).push(r));
    const admittedProxy = Array.from(proxy).filter((_, b) => admit[b]);
    const rejectedProxy = Array.from(proxy).filter((_, b) => !admit[b]);
    const rMean = mean(rewards);
    const rStd = Math.sqrt(mean(Array.from(rewards, (r) => (r - rMean) ** 2)));
    return {
      ...last,
      admission: mean(admit),
      rateHard: mean(diag.hard),
      rateDisc: mean(diag.discriminable),
      overlap: mean(diag.hard.map((h, i) => h & diag.discriminable[i])),
      effectiveRlWeight: opts.lambda * mean(admit),
      rewardMean: rMean,
      rewardStd: rStd,
      fracZeroStd: adv.fracZeroStd,
      fracInvalid: 1 - mean(valid),
      entropy: mean(roll.entropies),
      proxyAdmitted: mean(admittedProxy), // mean skips NaN (no negatives)
      proxyRejected: mean(rejectedProxy),
      ...(truth ? { reliabilityAdmitted: mean(admittedRel), reliabilityRejected: mean(rejectedRel) } : {}),
    };
  } finally {
    disposePrompts(prompt);
  }
}

/**
 * The mean admission rate of another run's RL stage (its metrics.jsonl): what the random gate's p
 * (rl.randomGate.matchRun) or the λ of the effective-weight control (rl.lambdaMatchRun) matches.
 * `key` names the setting in the error.
 */
export function matchedAdmissionRate(runDir: string, key = 'rl.randomGate.matchRun'): number {
  const rate = meanOverRlSteps(readMetrics(runDir, { stage: 'rl', kind: 'train' }), 'admission');
  if (!Number.isFinite(rate)) throw new UserError(`${key}: ${runDir} has no RL steps in metrics.jsonl; train that run first`);
  return rate;
}

export type RlStageResult = {
  bestStep: number;
  bestMetric: number;
  finalStep: number;
  randomP: number | null;
  lambda: number;
};

/**
 * RL's models from one read of the best SFT checkpoint: the trainable policy, pi_ref (a frozen copy
 * of it) and the policy's optimizer, which under rl.optimizerFromSft starts from the SFT moments
 * (a resumed stage then overwrites them with its own checkpoint's, in runStageLoop).
 */
function startFromSft(ctx: StageContext, sftDir: string): { policy: Policy; ref: Policy; optimizer: AdamW } {
  const { config } = ctx;
  const rc = config.rl;
  const opts = { codebookSizes: ctx.inputs.sids.codebookSizes };
  const ck = loadCheckpoint(resolveCheckpoint(sftDir, 'best'));
  const made: { dispose(): void }[] = [];
  try {
    const policy = policyFromCheckpoint(ck, config, { ...opts, trainable: true });
    made.push(policy);
    const ref = policyFromCheckpoint(ck, config, { ...opts, trainable: false });
    made.push(ref);
    const optimizer = new AdamW(policy.params, { weightDecay: rc.weightDecay, gradClip: rc.gradClip, noDecay: Policy.noDecay });
    made.push(optimizer);
    if (rc.optimizerFromSft) {
      const t = loadOptimizerState(ck, optimizer);
      ctx.log(`rl: AdamW moments and step count (${t}) from the SFT checkpoint (rl.optimizerFromSft)`);
    }
    return { policy, ref, optimizer };
  } catch (e) {
    for (const m of made) m.dispose();
    throw e;
  } finally {
    tf.dispose([...ck.tensors.values()]);
  }
}

export async function trainRl(ctx: StageContext): Promise<RlStageResult> {
  const { config, inputs } = ctx;
  const rc = config.rl;
  if (!ctx.upstream.sft || !ctx.upstream.ranker) throw new Error('RL needs the sft and ranker stages to run first');

  const { policy, ref, optimizer } = startFromSft(ctx, ctx.upstream.sft);
  const ranker = loadRanker(ctx.upstream.ranker, 'best', config);
  const catalog = catalogOf(inputs.sids); // the trie evaluation already built
  let discriminator: Discriminator | undefined;
  try {
    discriminator = await buildDiscriminator(config, inputs, ranker, discriminatorRng(config), ctx.log);
    // Only the random-gate control reads matchRun, so a sweep may set it for every cell.
    const randomP = rc.algorithm === 'random-gate' && rc.randomGate.matchRun ? matchedAdmissionRate(rc.randomGate.matchRun) : rc.randomGate.p;
    if (rc.algorithm === 'random-gate') ctx.log(`rl: random gate admits each sample with p = ${randomP.toFixed(4)}${rc.randomGate.matchRun ? ` (matched to ${rc.randomGate.matchRun})` : ''}`);
    // The effective-weight control: grpo+nll with λ = AdaGRPO's admission rate applies, on average,
    // as much GRPO as AdaGRPO does, but to every sample, not to the gated ones.
    const lambda = rc.lambdaMatchRun ? rc.lambda * matchedAdmissionRate(rc.lambdaMatchRun, 'rl.lambdaMatchRun') : rc.lambda;
    if (rc.lambdaMatchRun) ctx.log(`rl: lambda = ${lambda.toFixed(4)} (rl.lambda ${rc.lambda} x the admission rate of ${rc.lambdaMatchRun})`);

    const pool = rlPromptPool(inputs.splits.train);
    const r = await runStageLoop({
      stage: 'rl',
      ctx,
      configHash: stageHash('rl', config, inputs),
      steps: rc.steps,
      schedule: rc,
      params: policy.params,
      optimizer,
      // Every RL step is a row: the gate's diagnostics are the point of this stage.
      logEvery: 1,
      // codebookSizes: what loadPolicy needs to rebuild the policy for eval.
      extra: () => ({ codebookSizes: policy.layout.codebookSizes }),
      step: async (_step, lr, rng) => {
        const prompts: RlPrompt[] = [];
        for (let b = 0; b < rc.batchSize; b++) {
          const { user, position } = pool[rng.int(pool.length)];
          const seq = inputs.splits.train[user];
          prompts.push({ user, history: seq.subarray(0, position), target: seq[position] });
        }
        const stats = await rlStep({ policy, ref, ranker, catalog, optimizer, discriminator }, prompts, { config, dataset: inputs.dataset, codes: inputs.sids.codes, rng, lr, randomP, lambda });
        return { ...stats };
      },
      summarize: (reports, seconds) => ({ ...reports[reports.length - 1], seconds }),
      progressFields: (m) => ({ loss: m.loss, nll: m.nll, adm: m.admission, rew: m.rewardMean, kl: m.kl, inval: m.fracInvalid }),
      validate: async (atStep) => {
        const m = await evaluatePolicy(policy, inputs, config, { split: 'valid', maxUsers: config.eval.maxUsers });
        ctx.metrics({ step: atStep, kind: 'valid', ...m.metrics });
        return m.metrics['hr@10'];
      },
      metricName: 'valid HR@10',
      // Step 0 is the SFT policy: RL keeps it as best unless it improves on it.
      validateInitial: true,
    });
    return { bestStep: r.bestStep, bestMetric: r.bestMetric, finalStep: r.finalStep, randomP: rc.algorithm === 'random-gate' ? randomP : null, lambda };
  } finally {
    policy.dispose();
    ref.dispose();
    ranker.dispose();
    optimizer.dispose();
    discriminator?.dispose();
  }
}
