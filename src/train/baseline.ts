/**
 * A baseline run (docs/METHOD.md 2.9): the SASRec anchor trained and tested on exactly the
 * split, users and metric code of the policy, so every dataset, including one with no published
 * numbers, has a classic reference beside most-popular. The run folder is an ordinary one
 * (`<runsDir>/<name>-sasrec_s<seed>/`: config.yaml, meta.json, metrics.jsonl, sasrec/ checkpoints,
 * eval/sasrec-<best|final>-test.json), so resume, eval reports and metrics work as for `train`.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/schema.js';
import { prepareInputs } from '../data/inputs.js';
import { sampledUsers } from '../eval/evaluate.js';
import { evaluatePopularFor } from '../eval/popular.js';
import { evaluateSasrec } from '../eval/sasrec.js';
import { loadSasrec } from '../model/load.js';
import { readPointer } from '../model/checkpoint.js';
import type { ProgressFactory } from '../progress.js';
import { Rng } from '../rng.js';
import { UserError } from '../errors.js';
import { evalReportFile, isSasrecRun, readEvalReport, sameUsers, usersText, writeEvalReport, type EvalReport, type EvalUsers } from '../runs/evalReport.js';
import { truncateMetrics } from '../runs/metrics.js';
import type { Run } from '../runs/run.js';
import { isStageComplete } from '../runs/stages.js';
import { assertTrainedOn, readUpstream, writeUpstream } from '../runs/upstream.js';
import { endFailedRun } from './run.js';
import { sasrecArch, trainSasrec } from './sasrec.js';

export const BASELINE_MODELS = ['sasrec'] as const;
export type BaselineModel = (typeof BASELINE_MODELS)[number];

/** The run name of a config's baseline: its own name with the model appended. */
export function baselineConfig(config: Config, model: BaselineModel): Config {
  return Object.freeze({ ...config, name: `${config.name}-${model}` });
}

export interface BaselineRunOptions {
  backendName: string;
  resume: boolean;
  signal: AbortSignal;
  log: (line: string) => void;
  progress: ProgressFactory;
}

export interface BaselineRunResult {
  reports: EvalReport[];
  /** The most-popular baseline on the same test users. */
  popular: Record<string, number>;
}

export async function baselineRun(run: Run, o: BaselineRunOptions): Promise<BaselineRunResult> {
  const config = run.config;
  const stageDir = path.join(run.dir, 'sasrec');
  // Made first: the folder is what marks a baseline run (isSasrecRun) even before its first checkpoint.
  fs.mkdirSync(stageDir, { recursive: true });
  try {
    const inputs = await prepareInputs(config, o.log);
    // A resumed run continues only on the data it started on.
    if (o.resume) assertTrainedOn(run.dir, { data: inputs.manifest.hash, sid: inputs.sidHash }, 'baseline --resume');
    writeUpstream(run.dir, { data: inputs.manifest.hash, sid: inputs.sidHash });
    if (!isStageComplete(stageDir)) {
      await trainSasrec({
        config,
        inputs,
        stageDir,
        rng: new Rng(config.seed).fork('sasrec'),
        metrics: (row) => run.logMetrics('sasrec', row),
        rewindMetrics: (step) => truncateMetrics(run.dir, 'sasrec', step),
        progress: o.progress,
        log: o.log,
        signal: o.signal,
        resume: o.resume,
        upstream: {},
      });
    }
    // Test metrics at the best (validation HR@10) and final checkpoints, as train reports them.
    const arch = sasrecArch(config, inputs.dataset.itemIds.length);
    const reports: EvalReport[] = [];
    for (const checkpoint of ['best', 'final'] as const) {
      const model = loadSasrec(stageDir, checkpoint, arch);
      try {
        const r = await evaluateSasrec(model, inputs, config, { split: 'test', maxUsers: config.eval.testMaxUsers });
        const report: EvalReport = {
          run: run.dir,
          stage: 'sasrec',
          checkpoint,
          step: readPointer(stageDir, checkpoint)!.step,
          split: 'test',
          users: r.users,
          userSample: sampledUsers(inputs, 'test', config.eval.testMaxUsers, config.eval.userSample).userSample,
          beam: r.length,
          constrained: true, // every recommendation is a catalog item
          ks: config.eval.ks.filter((k) => k <= r.length),
          backend: o.backendName,
          seconds: r.seconds,
          usersPerSec: r.seconds > 0 ? r.users / r.seconds : null,
          metrics: r.metrics,
          popular: {},
          createdAt: new Date().toISOString(),
          file: evalReportFile(run.dir, 'sasrec', checkpoint, 'test'),
        };
        reports.push(report);
      } finally {
        model.dispose();
      }
    }
    const popular = evaluatePopularFor(inputs, config, 'test', config.eval.testMaxUsers).metrics;
    for (const r of reports) {
      r.popular = popular;
      writeEvalReport(r);
      run.logMetrics('sasrec', { kind: 'test', checkpoint: r.checkpoint, step: r.step, ...r.metrics });
    }
    run.finish('completed');
    return { reports, popular };
  } catch (e) {
    endFailedRun(run, e, o.log);
    throw e;
  }
}

/**
 * The test report of a SASRec baseline run, to print beside a policy evaluated on `want` (its
 * split, checkpoint name and data hash). UserError when the folder is no baseline run, has no
 * report for that split and checkpoint, or was trained on other data. `policyRun` names the run
 * whose config the fix trains the baseline from. Then `assertSasrecUsers`, once the policy's
 * users are known.
 */
export function sasrecReportFor(sasrecDir: string, policyRun: string, want: { checkpoint: string; split: 'valid' | 'test'; data: string }): EvalReport {
  const make = `adagrpo baseline --config ${path.join(policyRun, 'config.yaml')} --model sasrec`;
  if (!fs.existsSync(sasrecDir) || !isSasrecRun(sasrecDir)) {
    throw new UserError(
      `--sasrec: ${sasrecDir} is not a SASRec baseline run folder (no sasrec/ in it). Make one on this run's data and test users with ` +
        `"${make}"; it writes <runsDir>/<name>-sasrec_s<seed>/.`,
    );
  }
  const file = evalReportFile(sasrecDir, 'sasrec', want.checkpoint, want.split);
  if (!fs.existsSync(file)) {
    const evalDir = path.join(sasrecDir, 'eval');
    const have = fs.existsSync(evalDir) ? fs.readdirSync(evalDir).filter((f) => /^sasrec-.*\.json$/.test(f)).sort() : [];
    throw new UserError(
      have.length === 0
        ? `--sasrec: ${sasrecDir} has no SASRec test report yet (it did not finish). Finish it with the "adagrpo baseline" command that started it, adding --resume.`
        : `--sasrec: ${sasrecDir} has no ${path.relative(sasrecDir, file)} (it has ${have.join(', ')}). "adagrpo baseline" tests SASRec on the test split ` +
            'at the best and final checkpoints: compare with --split test and --checkpoint best or final.',
    );
  }
  const report = readEvalReport(file);
  const data = readUpstream(sasrecDir).data;
  if (data !== undefined && data !== want.data) {
    throw new UserError(
      `--sasrec: ${sasrecDir} was trained and tested on data hash ${data}, this run on ${want.data}: not the same data. ` +
        `Make a baseline on this run's data with "${make}".`,
    );
  }
  return report;
}

/**
 * A UserError unless the policy is evaluated on the users SASRec was tested on: the same number,
 * chosen the same way (eval.userSample), which on the same data is the same users.
 */
export function assertSasrecUsers(sasrec: EvalReport, sasrecDir: string, policy: EvalUsers): void {
  if (sameUsers(sasrec, policy)) return;
  const fix =
    sasrec.users !== policy.users
      ? `pass --max-users ${sasrec.users} to evaluate the policy on the same users`
      : `pass --user-sample ${sasrec.userSample ?? 'first'} to evaluate the policy on the same users`;
  throw new UserError(`--sasrec: ${sasrecDir} was tested on ${usersText(sasrec, sasrec.split)}, this evaluation on ${usersText(policy, sasrec.split)}: ${fix}.`);
}
