/**
 * `adagrpo stratify`: the diagnostic Tables 1-3 of docs/METHOD.md 2.7 for one checkpoint and split.
 * Prints markdown; writes `<run>/stratify/<stage>-<checkpoint>-<split>.{md,csv,json}`.
 */
import { diffPaths } from '../../config/diff.js';
import path from 'node:path';
import { addProgressOptions, progressFromFlags, runBackend, userSampleOption, withUserSample } from '../options.js';
import { sampledUsers, type UserSample } from '../../eval/evaluate.js';
import { Command, Option } from 'commander';
import { BACKEND_CHOICES, type BackendChoice } from '../../backend.js';
import type { Config } from '../../config/schema.js';
import { UserError } from '../../errors.js';
import { discBins, formatCsv, formatMarkdown, parseDifficultyEdges, rankOf, stratify, type DifficultyMode, type DiscMode, type StratifyMeta } from '../../eval/stratify.js';
import { collectStratSamples } from '../../eval/stratifyRun.js';
import { buildDiscriminator, discriminatorRng } from '../../train/discriminators.js';
import type { Discriminator } from '../../rl/discriminability.js';
import { atomicWrite, atomicWriteJson } from '../../io/atomic.js';
import { readCheckpointState, resolveCheckpoint } from '../../model/checkpoint.js';
import type { Policy } from '../../model/policy.js';
import type { Ranker } from '../../model/ranker.js';
import { defaultStage, requireRunDir, requireWritable } from '../../runs/policyStage.js';
import { readRunConfig } from '../../runs/run.js';
import { prepareInputs } from '../../data/inputs.js';
import { dataKey } from '../../data/prepare.js';
import { assertTrainedOn } from '../../runs/upstream.js';
import { resolveStageDir } from '../../runs/stages.js';
import { loadRanker, loadPolicy } from '../../model/load.js';

interface StratifyFlags {
  run: string;
  checkpoint: string;
  stage?: 'sft' | 'rl';
  split: 'valid' | 'test';
  beam?: string;
  maxUsers: string;
  userSample?: UserSample;
  difficultyBins: string;
  difficulty: DifficultyMode;
  disc: 'rho' | 'quartiles';
  compare?: string;
  backend?: BackendChoice;
  threads?: string;
  progress: boolean;
  logEvery: string;
}

function intFlag(flag: string, v: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UserError(`${flag} must be an integer >= ${min}; got "${v}"`);
  return n;
}


/**
 * --compare needs the same samples and the same item tuples: the data and SID settings must be
 * equal (the cache folder, data.processedDir, may differ).
 */
export function assertSameData(config: Config, other: Config, runDir: string, otherDir: string): void {
  const differ = [
    ...diffPaths({ ...config.data, processedDir: null }, { ...other.data, processedDir: null }, 'data'),
    ...diffPaths(config.sid, other.sid, 'sid'),
  ];
  if (differ.length > 0) {
    throw new UserError(
      `--compare: ${otherDir} was trained on other data or semantic IDs than ${runDir} (config differs at ${differ.join(', ')}); ` +
        `compare runs made from the same data and sid settings, e.g. the same config with another rl.algorithm.`,
    );
  }
}

function checkpointStep(stageDir: string, which: string): number {
  return readCheckpointState(resolveCheckpoint(stageDir, which)).step;
}

/**
 * `<stage>-<checkpoint>-<split>`, then a suffix per setting that changes the table: the beam when
 * it is not the run's eval.beam (`-beam<W>`), a capped sample (`-n<N>`, then `-first`/`-spread`
 * when it is not the run's eval.userSample), non-default bins and the compared run. Other settings
 * never overwrite an earlier table; the same settings reproduce it.
 */
export function stratifyFileName(
  stage: string,
  flags: Pick<StratifyFlags, 'checkpoint' | 'split' | 'difficulty' | 'disc'>,
  edges: readonly number[],
  sample: { beam: number; maxUsers: number; userSample: UserSample; runEval: Pick<Config['eval'], 'beam' | 'userSample'> },
  compare?: string,
): string {
  const parts = [stage, flags.checkpoint, flags.split];
  if (sample.beam !== sample.runEval.beam) parts.push(`beam${sample.beam}`);
  if (sample.maxUsers > 0) {
    parts.push(`n${sample.maxUsers}`);
    if (sample.userSample !== sample.runEval.userSample) parts.push(sample.userSample);
  }
  if (flags.difficulty === 'prob-quartiles') parts.push('prob');
  else if (edges.join(',') !== '1,5,10') parts.push(`r${edges.join('_')}`);
  if (flags.disc === 'quartiles') parts.push('dquartiles');
  if (compare) parts.push(`vs-${path.basename(path.resolve(compare))}`);
  return parts.join('-');
}

export function registerStratify(program: Command): Command {
  return addProgressOptions(program.command('stratify'))
    .description(
      'Diagnostic tables of where the ranker helps or hurts (docs/METHOD.md 2.7): HR under beam (LLM) order vs ' +
        'ranker (RM) order, by policy difficulty and by reward discriminability.',
    )
    .requiredOption('--run <dir>', 'run folder made by "adagrpo train"')
    .option('--checkpoint <which>', 'best | final | last | step_N', 'best')
    .addOption(new Option('--stage <stage>', 'whose policy: rl (default when the run has one) or sft').choices(['sft', 'rl']))
    .addOption(new Option('--split <split>', 'which leave-one-out split').choices(['valid', 'test']).default('test'))
    .option('--beam <W>', 'beam width (default: the run\'s eval.beam)')
    .option('--max-users <N>', 'N samples of the split, chosen by --user-sample (0 = all)', '0')
    .addOption(userSampleOption())
    .addOption(
      new Option('--difficulty <how>', 'difficulty bins: rank of the ground truth in the beam, or quartiles of log pi(y|x), the policy\'s log-probability of it')
        .choices(['rank', 'prob-quartiles'])
        .default('rank'),
    )
    .option('--difficulty-bins <edges>', 'ground-truth beam-rank edges: 1,5,10 = {1}, {2-5}, {6-10}, {11-W}, {absent}', '1,5,10')
    .addOption(new Option('--disc <how>', 'discriminability bins: split at the gate\'s rho, or quartiles of d').choices(['rho', 'quartiles']).default('rho'))
    .option('--compare <run>', 'another run on the same data: per cell, this run\'s HR@10 minus the other\'s (cells by THIS run)')
    .addOption(new Option('--backend <name>', 'tfjs backend (default: the run\'s config)').choices([...BACKEND_CHOICES]))
    .option('--threads <n>', 'XNNPACK threads of the wasm backend (default: the run\'s config)')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  adagrpo stratify --run runs/quickstart_s1\n' +
        '  adagrpo stratify --run runs/quickstart_s1 --split valid --disc quartiles --compare runs/qs-nll_s1\n' +
        '  adagrpo stratify --run runs/quickstart_s1 --difficulty prob-quartiles\n' +
        '\nFiles: <run>/stratify/<stage>-<checkpoint>-<split>[-beam<W>][-n<N>[-first|-spread]][-prob|-r<edges>][-dquartiles][-vs-<other run>].{md,csv,json};\n' +
        'the suffixes name a beam or user sample other than the run\'s eval settings, non-default bins and --compare,\n' +
        'so other settings never overwrite a table.\n',
    )
    .action(async (flags: StratifyFlags) => {
      const log = (line: string) => process.stderr.write(line + '\n');
      const t0 = performance.now();
      const runDir = flags.run;
      requireRunDir(runDir);
      const runConfig = readRunConfig(runDir);
      const config: Config = withUserSample(runConfig, flags.userSample);
      const beam = flags.beam === undefined ? config.eval.beam : intFlag('--beam', flags.beam, 1);
      const maxUsers = intFlag('--max-users', flags.maxUsers, 0);
      const edges = parseDifficultyEdges(flags.difficultyBins);
      const disc: DiscMode = flags.disc === 'quartiles' ? { mode: 'quartiles' } : { mode: 'rho', rho: config.gate.discriminability.rho };
      const stage = flags.stage ?? defaultStage(runDir);
      const stageDir = resolveStageDir(runDir, stage);
      const step = checkpointStep(stageDir, flags.checkpoint); // UserError listing what exists
      const rankerDir = resolveStageDir(runDir, 'ranker');
      try {
        resolveCheckpoint(rankerDir, 'best');
      } catch (e) {
        if (!(e instanceof UserError)) throw e;
        throw new UserError(
          `stratify scores the beams with the run's ranker, and ${runDir} has none (${e.message}). ` +
            `Use a run trained through the ranker stage (adagrpo train without --until sft or data), e.g. ` +
            `adagrpo train --config ${path.join(runDir, 'config.yaml')} --set name=<new name>: it reuses this run's cached SFT stage.`,
        );
      }

      let other: { dir: string; config: Config; stage: 'sft' | 'rl'; stageDir: string; step: number } | undefined;
      if (flags.compare !== undefined) {
        requireRunDir(flags.compare, '--compare');
        const oc = readRunConfig(flags.compare);
        assertSameData(config, oc, runDir, flags.compare);
        const os = flags.stage ?? defaultStage(flags.compare);
        const osDir = resolveStageDir(flags.compare, os);
        other = { dir: flags.compare, config: oc, stage: os, stageDir: osDir, step: checkpointStep(osDir, flags.checkpoint) };
      }

      // Both runs must be scored on the data they learned from (equal configs do not prove it:
      // a data file can change between two trainings).
      const runs = other ? [runDir, other.dir] : [runDir];
      const key = (await dataKey(config.data)).hash;
      for (const d of runs) assertTrainedOn(d, { data: key }, flags.compare === undefined ? 'stratify' : 'stratify --compare');
      requireWritable(runDir, 'stratify writes its tables into the run folder');
      const backend = await runBackend(flags, config, log);
      const inputs = await prepareInputs(config, log, progressFromFlags(flags));
      for (const d of runs) assertTrainedOn(d, { data: inputs.manifest.hash, sid: inputs.sidHash }, flags.compare === undefined ? 'stratify' : 'stratify --compare');
      const sizes = { codebookSizes: inputs.sids.codebookSizes };
      let policy: Policy | undefined;
      let otherPolicy: Policy | undefined;
      let ranker: Ranker | undefined;
      let discriminator: Discriminator | undefined;
      let run;
      try {
        policy = loadPolicy(stageDir, flags.checkpoint, config, sizes);
        ranker = loadRanker(rankerDir, 'best', config);
        if (other) otherPolicy = loadPolicy(other.stageDir, flags.checkpoint, other.config, sizes);
        // The run's own estimator, rebuilt exactly as its RL stage built it (same seed and stream).
        discriminator = await buildDiscriminator(config, inputs, ranker, discriminatorRng(config), log);
        run = await collectStratSamples(policy, ranker, inputs, config, {
          discriminator,
          split: flags.split,
          beam,
          maxUsers,
          otherPolicy,
          progress: progressFromFlags(flags),
        });
      } finally {
        policy?.dispose();
        otherPolicy?.dispose();
        ranker?.dispose();
        discriminator?.dispose();
      }

      const tables = stratify(run.samples, { beam, difficulty: flags.difficulty, difficultyEdges: edges, disc });
      const meta: StratifyMeta = {
        run: runDir,
        stage,
        checkpoint: flags.checkpoint,
        step,
        split: flags.split,
        beam,
        inBatchNegatives: run.inBatchNegatives,
        negativeBatch: run.negativeBatch,
        estimator: config.gate.discriminability.estimator,
        disc,
        ...(other ? { compare: { run: other.dir, stage: other.stage, checkpoint: flags.checkpoint, step: other.step } } : {}),
      };
      const md = formatMarkdown(tables, meta);
      process.stdout.write(md);

      const sample = { beam, maxUsers, userSample: config.eval.userSample, runEval: runConfig.eval };
      const base = path.join(runDir, 'stratify', stratifyFileName(stage, flags, edges, sample, other?.dir));
      const ids = inputs.dataset.itemIds;
      const seconds = (performance.now() - t0) / 1000;
      atomicWrite(`${base}.md`, md);
      atomicWrite(`${base}.csv`, formatCsv(tables));
      atomicWriteJson(`${base}.json`, {
        ...meta,
        users: tables.n,
        userSample: sampledUsers(inputs, flags.split, maxUsers, config.eval.userSample).userSample,
        backend: backend.name,
        seconds: { total: seconds, ...run.seconds },
        difficultyEdges: edges,
        discThresholds: discBins(disc, run.samples.map((s) => s.disc)).map((b) => b.lo).slice(1),
        tables,
        // Per sample: 1-based rank of the truth in LLM / RM / other order (0 = absent), d and reliability.
        samples: run.samples.map((s) => ({
          user: inputs.dataset.userIds[s.user],
          target: ids[s.target],
          rankLlm: rankOf(s.llm, s.target),
          rankRm: rankOf(s.rm, s.target),
          ...(s.other ? { rankOther: rankOf(s.other, s.target) } : {}),
          d: s.disc,
          gtLogProb: s.gtLogProb,
          ...(Number.isFinite(s.reliability) ? { reliability: s.reliability } : {}),
        })),
        createdAt: new Date().toISOString(),
      });
      log(
        `stratify: ${tables.n} samples in ${seconds.toFixed(1)} s (beam search ${run.seconds.beam.toFixed(1)} s, ranker ${run.seconds.ranker.toFixed(1)} s` +
          `${other ? `, compare beam search ${run.seconds.other.toFixed(1)} s` : ''}); wrote ${base}.{md,csv,json}`,
      );
    });
}
