/**
 * Builds the gate's discriminability estimator for the RL stage (docs/METHOD.md 2.5): the margin
 * test needs nothing; the ensemble trains K−1 bootstrap rankers; the exposure-aware and calibrated
 * estimators fit their reliability tables on the ranker stage's held-out log. Both are deterministic functions
 * of the config and the RL seed, so a resumed RL stage rebuilds exactly the same estimator.
 */
import type { Config } from '../config/schema.js';
import type { PreparedInputs } from '../data/inputs.js';
import { trainItemCounts } from '../data/splits.js';
import { Ranker } from '../model/ranker.js';
import { rankerArch } from '../model/load.js';
import {
  calibratedDiscriminator,
  ensembleDiscriminator,
  exposureBuckets,
  exposureDiscriminator,
  fitExposureCalibration,
  fitGapCalibration,
  marginDiscriminator,
  type Discriminator,
  type ExposureCalibration,
  type GapCalibration,
} from '../rl/discriminability.js';
import { Rng } from '../rng.js';
import { AdamW, learningRate } from './optimizer.js';
import { stageSeed } from './pipeline.js';
import { rankerData, rankerNoDecay, rankerStep, type RankerData } from './ranker.js';

/**
 * The ranker stage's data, with the held-out log it selected on: the same stream the ranker stage
 * forked (`new Rng(stage seed).fork('ranker').fork('holdout')`), so no member trains on it and the
 * exposure calibration is fitted on logs the reward ranker never saw.
 */
function rankerStageData(config: Config, inputs: PreparedInputs, bootstrapRng?: Rng): RankerData {
  const holdRng = new Rng(stageSeed('ranker', config)).fork('ranker').fork('holdout');
  return rankerData(inputs.dataset, inputs.splits, config.ranker, holdRng, bootstrapRng);
}

/**
 * Logged exposure of each item: on the synthetic world, the impressions that showed it; on real
 * logs, its training interactions (the only exposure record there is).
 */
export function loggedExposure(inputs: PreparedInputs): Float64Array {
  const I = inputs.dataset.itemIds.length;
  const truth = inputs.dataset.truth;
  const out = new Float64Array(I);
  if (truth && truth.impressions.length > 0) {
    for (const imp of truth.impressions) for (const it of imp.items) out[it]++;
  } else {
    out.set(trainItemCounts(inputs.splits, I));
  }
  return out;
}

/** The ranker stage's held-out log and `ranker`'s logits of it ([N*G]). */
async function scoredHeldOut(config: Config, inputs: PreparedInputs, ranker: Ranker) {
  const valid = rankerStageData(config, inputs).valid;
  return { valid, scores: await ranker.scoreItems(valid.histories, valid.items, valid.G, config.eval.batchSize) };
}

/** Per-bucket held-out reliability of `ranker` (the exposure-aware estimator's table). */
export async function exposureCalibration(config: Config, inputs: PreparedInputs, ranker: Ranker): Promise<ExposureCalibration> {
  const ec = config.gate.discriminability.exposure;
  const { valid, scores } = await scoredHeldOut(config, inputs, ranker);
  const bucketOf = exposureBuckets(loggedExposure(inputs), ec.buckets);
  return fitExposureCalibration(bucketOf, ec.buckets + 1, valid.items, valid.labels, scores, valid.G, ec.prior);
}

/** Held-out reliability of `ranker` by score gap and exposure buckets (the calibrated estimator's table). */
export async function gapCalibration(config: Config, inputs: PreparedInputs, ranker: Ranker): Promise<GapCalibration> {
  const cc = config.gate.discriminability.calibrated;
  const { valid, scores } = await scoredHeldOut(config, inputs, ranker);
  const bucketOf = exposureBuckets(loggedExposure(inputs), cc.buckets);
  return fitGapCalibration(bucketOf, cc.buckets + 1, cc.gapBins, valid.items, valid.labels, scores, valid.G, cc.prior);
}

/** Held-out accuracy of each gap bin, pooled over bucket pairs (the calibrated estimator's log line). */
export function gapBinAccuracy(cal: GapCalibration): { upTo: number; accuracy: number; pairs: number }[] {
  const nn = cal.numBuckets * cal.numBuckets;
  return Array.from({ length: cal.gapEdges.length + 1 }, (_, g) => {
    let right = 0;
    let pairs = 0;
    for (let c = g * nn; c < (g + 1) * nn; c++) {
      right += cal.accuracy[c] * cal.pairs[c];
      pairs += cal.pairs[c];
    }
    return { upTo: g < cal.gapEdges.length ? cal.gapEdges[g] : Infinity, accuracy: pairs > 0 ? right / pairs : Number.NaN, pairs };
  });
}

/**
 * K−1 rankers, each trained from its own init on its own bootstrap resample of the ranker's
 * training logs, with the ranker stage's optimiser and schedule (no model selection: the last
 * weights). Training steps: gate.discriminability.ensemble.steps, 0 = ranker.steps.
 */
export async function trainEnsembleMembers(config: Config, inputs: PreparedInputs, rng: Rng, onMember?: (k: number, seconds: number) => void): Promise<Ranker[]> {
  const rc = config.ranker;
  const ec = config.gate.discriminability.ensemble;
  const steps = ec.steps > 0 ? ec.steps : rc.steps;
  const members: Ranker[] = [];
  try {
    for (let k = 1; k < ec.size; k++) {
      const t0 = Date.now();
      const memberRng = rng.fork(`member-${k}`);
      const data = rankerStageData(config, inputs, memberRng.fork('bootstrap'));
      const member = Ranker.create(data.numItems, rankerArch(rc), memberRng.fork('init'));
      members.push(member);
      const opt = new AdamW(member.params, { weightDecay: rc.weightDecay, gradClip: rc.gradClip, noDecay: rankerNoDecay });
      const batchRng = memberRng.fork('batches');
      try {
        for (let step = 0; step < steps; step++) {
          const r = await rankerStep(member, opt, data.train.next(batchRng, rc.batchSize), learningRate(step, rc, steps));
          if (!Number.isFinite(r.loss)) throw new Error(`ensemble member ${k} diverged at step ${step} (loss ${r.loss}); lower ranker.lr`);
        }
      } finally {
        opt.dispose();
      }
      onMember?.(k, (Date.now() - t0) / 1000);
    }
  } catch (e) {
    members.forEach((m) => m.dispose());
    throw e;
  }
  return members;
}

/** The estimator's own stream (from the RL seed), apart from the RL stage's: the margin test leaves that stream as it always was. */
export function discriminatorRng(config: Config): Rng {
  return new Rng(stageSeed('rl', config)).fork('discriminator');
}

/** The estimator config.gate.discriminability.estimator names, built for the reward `ranker`. */
export async function buildDiscriminator(config: Config, inputs: PreparedInputs, ranker: Ranker, rng: Rng, log: (line: string) => void): Promise<Discriminator> {
  const dc = config.gate.discriminability;
  const t0 = Date.now();
  if (dc.estimator === 'margin') return marginDiscriminator;
  if (dc.estimator === 'exposure') {
    const cal = await exposureCalibration(config, inputs, ranker);
    const cells: string[] = [];
    for (let a = 0; a < cal.numBuckets; a++) cells.push(`${a}: ${cal.accuracy[a * cal.numBuckets + a].toFixed(3)} (${cal.pairs[a * cal.numBuckets + a]} pairs)`);
    log(
      `rl: exposure-aware discriminability, held-out pairwise accuracy ${cal.pooled.toFixed(3)} overall; ` +
        `within exposure bucket (0 = never exposed) ${cells.join(', ')}; fitted in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    return exposureDiscriminator(cal);
  }
  if (dc.estimator === 'calibrated') {
    const cal = await gapCalibration(config, inputs, ranker);
    const bins = gapBinAccuracy(cal).map((g) => `${Number.isFinite(g.upTo) ? `<${g.upTo.toFixed(2)}` : 'rest'}: ${g.accuracy.toFixed(3)}`);
    log(
      `rl: calibrated discriminability, held-out pairwise accuracy ${cal.pooled.toFixed(3)} overall; ` +
        `by |Δ logit| bin (pooled over exposure buckets, smoothed) ${bins.join(', ')}; fitted in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    return calibratedDiscriminator(cal);
  }
  const members = await trainEnsembleMembers(config, inputs, rng, (k, s) => log(`rl: ensemble member ${k}/${dc.ensemble.size - 1} trained in ${s.toFixed(1)} s`));
  log(`rl: ensemble of ${dc.ensemble.size} rankers (the reward ranker + ${members.length} bootstrap members), z = ${dc.ensemble.z}; ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return ensembleDiscriminator(members, dc.ensemble.z, config.eval.batchSize);
}
