/**
 * Builds the gate's discriminability estimator for the RL stage (docs/METHOD.md 2.5): the margin
 * test needs nothing; the ensemble trains K−1 bootstrap rankers; the exposure-aware estimator fits
 * its per-bucket reliability on the ranker stage's held-out log. Both are deterministic functions
 * of the config and the RL seed, so a resumed RL stage rebuilds exactly the same estimator.
 */
import type { Config } from '../config/schema.js';
import type { PreparedInputs } from '../data/inputs.js';
import { trainItemCounts } from '../data/splits.js';
import { Ranker } from '../model/ranker.js';
import { rankerArch } from '../model/load.js';
import {
  ensembleDiscriminator,
  exposureBuckets,
  exposureDiscriminator,
  fitExposureCalibration,
  marginDiscriminator,
  type Discriminator,
  type ExposureCalibration,
} from '../rl/discriminability.js';
import { Rng } from '../rng.js';
import { AdamW, learningRate } from './optimizer.js';
import { stageSeed } from './pipeline.js';
import { rankerData, rankerStep, type RankerData } from './ranker.js';

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

/** Per-bucket held-out reliability of `ranker` (the exposure-aware estimator's table). */
export async function exposureCalibration(config: Config, inputs: PreparedInputs, ranker: Ranker): Promise<ExposureCalibration> {
  const ec = config.gate.discriminability.exposure;
  const valid = rankerStageData(config, inputs).valid;
  const scores = await ranker.scoreItems(valid.histories, valid.items, valid.G, config.eval.batchSize); // [N*G]
  const bucketOf = exposureBuckets(loggedExposure(inputs), ec.buckets);
  return fitExposureCalibration(bucketOf, ec.buckets + 1, valid.items, valid.labels, scores, valid.G, ec.prior);
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
      const opt = new AdamW(member.params, { weightDecay: rc.weightDecay, gradClip: rc.gradClip, noDecay: (n) => n.endsWith('Bias') || /\/b\d$/.test(n) });
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
  const members = await trainEnsembleMembers(config, inputs, rng, (k, s) => log(`rl: ensemble member ${k}/${dc.ensemble.size - 1} trained in ${s.toFixed(1)} s`));
  log(`rl: ensemble of ${dc.ensemble.size} rankers (the reward ranker + ${members.length} bootstrap members), z = ${dc.ensemble.z}; ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return ensembleDiscriminator(members, dc.ensemble.z, config.eval.batchSize);
}
