import { Command, Option } from 'commander';
import path from 'node:path';
import { initBackend } from '../../backend.js';
import { loadConfig } from '../../config/load.js';
import { evaluateCheckpoint, pointerStep, reuseReport, type CheckpointEvalReport } from '../../eval/checkpointEval.js';
import { UserError } from '../../errors.js';
import { evalExamples } from '../../eval/evaluate.js';
import { Run, runDirFor, savedConfigDiff } from '../../runs/run.js';
import { InterruptedError } from '../../train/context.js';
import { explainWasmAbort } from '../../train/memory.js';
import { STAGES, runPipeline, type StageName, type PipelineOptions } from '../../train/pipeline.js';
import type { Config } from '../../config/schema.js';
import { addConfigOptions, printConfig, type ConfigFlags, addProgressOptions, progressFromFlags } from '../options.js';
import { stageRunners } from '../stages.js';

interface TrainFlags extends ConfigFlags {
  resume?: boolean;
  until: StageName;
  progress: boolean;
  logEvery: string;
}

/** Best vs final vs the popular baseline, for the headline metrics. */
function testTable(reports: CheckpointEvalReport[]): string {
  const names = ['hr@1', 'hr@10', 'ndcg@10', 'hallucination@10', 'validity', 'coverage@10'].filter((n) => n in reports[0].metrics);
  const cols = [...reports.map((r) => `${r.checkpoint} (step ${r.step})`), 'popular'];
  const w = Math.max(...cols.map((c) => c.length), 8);
  const row = (name: string, cells: string[]) => name.padEnd(18) + cells.map((c) => c.padStart(w + 2)).join('');
  return [
    row('metric', cols),
    ...names.map((n) => row(n, [...reports.map((r) => r.metrics[n].toFixed(4)), reports[0].popular[n]?.toFixed(4) ?? '-'])),
  ].join('\n');
}


/**
 * Open the run folder of `config`: a new one, or (resume) the existing one after checking that
 * its saved config is this config (the backend may differ). Shared by train and sweep.
 */
export function openRun(config: Config, resume: boolean, argv: string[]): Run {
  const runDir = runDirFor(config);
  if (!resume) return Run.create(config, argv);
  const differ = savedConfigDiff(runDir, config);
  if (differ.length > 0) {
    throw new UserError(
      `--resume: the config differs from ${path.join(runDir, 'config.yaml')} at ${differ.join(', ')}. ` +
        `A resumed run must use its own config; drop those overrides or start a new run.`,
    );
  }
  return Run.resume(runDir, argv, config);
}

export interface TrainRunResult extends Awaited<ReturnType<typeof runPipeline>> {
  /** Test metrics at the best and final checkpoints (empty when --until stops before sft). */
  reports: CheckpointEvalReport[];
}

/**
 * The body of `train` for an opened run, shared with `sweep`: the pipeline, then test metrics at
 * the best and final checkpoints, then the run's end in meta.json (completed, interrupted on
 * Ctrl-C, failed otherwise; errors are rethrown for the caller to report).
 */
export async function trainRun(run: Run, backendName: string, opts: Omit<PipelineOptions, 'run' | 'stages'>): Promise<TrainRunResult> {
  const config = run.config;
  try {
    const { inputs, outcomes } = await runPipeline({ ...opts, run, stages: stageRunners() });
    opts.log(`stages: ${outcomes.map((o) => `${o.stage} ${o.reused ? 'reused' : `${o.seconds.toFixed(1)} s`}`).join(', ')}`);
    const reports: CheckpointEvalReport[] = [];
    if (opts.until === 'sft' || opts.until === 'ranker' || opts.until === 'rl') {
      // The paper reports test metrics at the best (validation HR@10) and the final checkpoint.
      const stage = opts.until === 'rl' ? 'rl' : 'sft';
      for (const checkpoint of ['best', 'final'] as const) {
        const same = checkpoint === 'final' && reports[0] && pointerStep(run.dir, stage, 'final') === reports[0].step;
        let r: CheckpointEvalReport;
        if (same) r = reuseReport(reports[0], 'final');
        else {
          // Beam search over the test users: minutes on a large split, so it shows its progress.
          const bar = opts.progress(`test ${stage}/${checkpoint}`, evalExamples(inputs, 'test', config.eval.testMaxUsers).length, 'users');
          try {
            r = evaluateCheckpoint(run.dir, config, inputs, { stage, checkpoint, split: 'test', backendName, maxUsers: config.eval.testMaxUsers, progress: bar });
          } catch (e) {
            throw explainWasmAbort(e, 'eval');
          } finally {
            bar.stop();
          }
        }
        run.logMetrics(stage, { kind: 'test', checkpoint, step: r.step, ...r.metrics });
        reports.push(r);
      }
    }
    run.finish('completed');
    return { inputs, outcomes, reports };
  } catch (e) {
    run.finish(e instanceof InterruptedError ? 'interrupted' : 'failed', e);
    throw e;
  }
}

export function registerTrain(program: Command): Command {
  const cmd = program
    .command('train')
    .description(
      'Run the pipeline: data, semantic IDs, SFT, ranker, RL (DESIGN 2). Writes <runsDir>/<name>_s<seed>/ ' +
        'with config.yaml, meta.json, metrics.jsonl and a folder per stage. Upstream stages are cached by ' +
        'a hash of their inputs and reused by every run that shares them.',
    );
  addProgressOptions(addConfigOptions(cmd))
    .option('--resume', 'continue the existing run folder of this config (same name and seed) from its last checkpoints')
    .addOption(new Option('--until <stage>', 'stop after this stage').choices([...STAGES]).default('rl'))
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  adagrpo train --config configs/quickstart.yaml\n' +
        '  adagrpo train --config configs/quickstart.yaml --set seed=2 --set rl.algorithm=random-gate\n' +
        '  adagrpo train --config configs/quickstart.yaml --resume      after Ctrl-C\n',
    )
    .action(async (flags: TrainFlags) => {
      const config = loadConfig(flags.config, { sets: flags.set, overrides: { backend: flags.backend } });
      if (flags.dryRun) {
        printConfig(config);
        return;
      }
      const log = (line: string) => process.stderr.write(line + '\n');
      // The backend first: if it cannot start, no run folder is left behind claiming to run.
      const backend = await initBackend(config.backend, log);
      const run = openRun(config, Boolean(flags.resume), process.argv);
      run.setBackend(backend);
      log(`run: ${run.dir}`);

      // Ctrl-C: stages save a checkpoint at the end of the current step; a second Ctrl-C quits now.
      const abort = new AbortController();
      const onSigint = () => {
        if (abort.signal.aborted) process.exit(130);
        log('\nCtrl-C: saving a checkpoint at the end of this step (press again to quit at once)');
        abort.abort();
      };
      process.on('SIGINT', onSigint);
      try {
        const { reports } = await trainRun(run, backend.name, {
          until: flags.until,
          resume: Boolean(flags.resume),
          signal: abort.signal,
          log,
          progress: progressFromFlags(flags),
        });
        if (reports.length > 0) {
          process.stdout.write(`\n${run.dir}: ${reports[0].stage} on test, ${reports[0].users} users, beam ${reports[0].beam}\n${testTable(reports)}\n`);
        }
      } finally {
        process.off('SIGINT', onSigint);
      }
    });
  return cmd;
}
