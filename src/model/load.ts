/**
 * Loading trained models from checkpoints (docs/METHOD.md 4): the policy of an SFT or RL stage and
 * the ranker, with the checks that a checkpoint fits the config it is loaded under. Every command
 * that reads a trained model (RL, eval, stratify) goes through here.
 */
import * as tf from '@tensorflow/tfjs';
import type { Config, RankerConfig } from '../config/schema.js';
import { UserError } from '../errors.js';
import { loadCheckpoint, resolveCheckpoint, type LoadedCheckpoint } from './checkpoint.js';
import { Policy, sidLayout } from './policy.js';
import { Ranker, type RankerArch } from './ranker.js';
import { Sasrec, type SasrecArch } from './sasrec.js';

/** What a policy checkpoint (SFT) records besides weights, for loadPolicy and resume. */
export interface SftExtra {
  sftFormat: number;
  dataSeed: number;
  codebookSizes: number[];
  policy: Config['policy'];
}

export function rankerArch(rc: RankerConfig): RankerArch {
  return { dim: rc.dim, hidden: rc.hidden, encoder: rc.encoder, maxHistory: rc.maxHistory };
}

export interface RankerExtra extends Record<string, unknown> {
  numItems: number;
  arch: RankerArch;
}

export interface LoadPolicyOptions {
  /** Weights are trainable variables (RL) or frozen (eval, pi_ref). Default false. */
  trainable?: boolean;
  /** Codebook sizes of the current SIDs: required for checkpoints that do not record them (RL), checked against those that do. */
  codebookSizes?: readonly number[];
}

/**
 * The policy of a checkpoint (`best` | `final` | `last` | `step_N`) in a stage folder (sft, or
 * rl when RL saves the policy weights under the same names). `config.policy` must be the one it
 * was trained with.
 */
export function loadPolicy(stageDir: string, which: string, config: Config, opts: LoadPolicyOptions = {}): Policy {
  const ck = loadCheckpoint(resolveCheckpoint(stageDir, which));
  try {
    return policyFromCheckpoint(ck, config, opts);
  } finally {
    tf.dispose([...ck.tensors.values()]);
  }
}

/**
 * A policy built from a checkpoint already read, for callers that need more than one model (or
 * its optimizer moments) from the same file: RL reads the SFT checkpoint once for the policy,
 * pi_ref and, with rl.optimizerFromSft, the moments. The policy holds copies: `ck.tensors` stay
 * the caller's to dispose.
 */
export function policyFromCheckpoint(ck: LoadedCheckpoint, config: Config, opts: LoadPolicyOptions = {}): Policy {
  const recorded = (ck.state.extra as Partial<SftExtra> | undefined)?.codebookSizes;
  const sizes = recorded ?? opts.codebookSizes;
  if (!sizes) throw new UserError(`checkpoint ${ck.dir} does not record its SID codebook sizes; pass them from the prepared inputs`);
  if (recorded && opts.codebookSizes && recorded.join(',') !== opts.codebookSizes.join(',')) {
    throw new UserError(
      `checkpoint ${ck.dir} was trained on SIDs with codebooks [${recorded}], the current SIDs have [${opts.codebookSizes}]; ` +
        `evaluate with the run's own config.yaml and data`,
    );
  }
  return Policy.fromTensors(config.policy, sidLayout(sizes), ck.tensors, `checkpoint ${ck.dir}`, opts.trainable ?? false);
}

/**
 * Load a trained ranker (`best` | `final` | `last` | `step_N`) for scoring. Frozen (not
 * trainable) unless asked. The architecture must match `config.ranker`; pass `configHash` (the
 * ranker stage hash) to also refuse a ranker trained on other data or settings.
 */
export function loadRanker(
  stageDir: string,
  which: string,
  config: Config,
  opts: { configHash?: string; trainable?: boolean } = {},
): Ranker {
  const dir = resolveCheckpoint(stageDir, which);
  const ck = loadCheckpoint(dir, { stage: 'ranker', configHash: opts.configHash });
  const extra = ck.state.extra as RankerExtra | undefined;
  const arch = rankerArch(config.ranker);
  if (extra?.arch && JSON.stringify(extra.arch) !== JSON.stringify(arch)) {
    tf.dispose([...ck.tensors.values()]);
    throw new UserError(
      `ranker checkpoint ${dir} has architecture ${JSON.stringify(extra.arch)} but the config asks for ${JSON.stringify(arch)}`,
    );
  }
  const numItems = extra?.numItems ?? ck.tensors.get('ranker/itemEmb')!.shape[0] - 1;
  return Ranker.fromTensors(numItems, arch, ck.tensors, opts.trainable ?? false, true);
}

/** The SASRec baseline of a checkpoint in its stage folder, frozen. */
export function loadSasrec(stageDir: string, which: string, arch: SasrecArch): Sasrec {
  const ck = loadCheckpoint(resolveCheckpoint(stageDir, which), { stage: 'sasrec' });
  try {
    return Sasrec.fromTensors(arch, ck.tensors, `checkpoint ${ck.dir}`);
  } finally {
    tf.dispose([...ck.tensors.values()]);
  }
}
