/**
 * `adagrpo sweep`: plan every (grid cell × seed) run, then run them one after another through
 * the same code as `train` (injected as `execute`, so this file is testable without training).
 * Resumable by construction: a run whose meta.json says completed is skipped, any other existing
 * run is resumed from its checkpoints, a missing one is created. The sweep's record,
 * `<runsDir>/sweeps/<name>/sweep.json`, lists every run with its grid values, status and the
 * hashes of the data and upstream stages it used (what `report` checks before comparing).
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig, parseSet } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { UserError, InterruptedError, NonFiniteLossError } from '../errors.js';
import { z } from 'zod';
import { readJsonFile, writeJsonFile } from '../io/json.js';
import { readMeta, RUN_STATUSES, type RunStatus } from '../runs/meta.js';
import { runDirFor, savedConfigDiff } from '../runs/run.js';
import { readStageRecord } from '../runs/stages.js';
import type { Upstream } from '../runs/upstream.js';
import { expandGrid, withSeed, type Combination, type GridAxis } from './grid.js';

export const SWEEP_FORMAT = 1;

const metricsSchema = z.record(z.string(), z.number());
const runEntrySchema = z.object({
  name: z.string(),
  seed: z.number().int(),
  /** Run folder relative to the sweep folder, so runsDir can be moved as a whole. */
  dir: z.string(),
  grid: z.record(z.string(), z.string()),
  status: z.enum([...RUN_STATUSES, 'pending']),
  /** Hashes of what the run was built from; runs compared side by side must agree on them. */
  upstream: z.object({ data: z.string().optional(), sid: z.string().optional(), sft: z.string().optional(), ranker: z.string().optional() }),
  /** Test metrics at the best and final checkpoints, when this sweep trained or saw them. */
  test: z.object({ best: metricsSchema.optional(), final: metricsSchema.optional() }).optional(),
});
/** sweep.json: this module is its only reader and writer. */
const sweepRecordSchema = z.object({
  formatVersion: z.literal(SWEEP_FORMAT),
  name: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
  /** Each `sweep` call on this folder: what it asked for. */
  invocations: z.array(
    z.object({ at: z.string(), config: z.string().nullable(), sets: z.array(z.string()), grid: z.array(z.object({ key: z.string(), texts: z.array(z.string()) })), seeds: z.array(z.number().int()) }),
  ),
  runs: z.array(runEntrySchema),
});
export type SweepRunEntry = z.infer<typeof runEntrySchema>;
export type SweepRecord = z.infer<typeof sweepRecordSchema>;

export type RunState = 'new' | 'completed' | 'resume';

export interface PlannedRun {
  comb: Combination;
  config: Config;
  dir: string;
  state: RunState;
  /** meta.json status of an existing run folder. */
  status?: RunStatus;
}

export interface SweepPlan {
  name: string;
  sweepDir: string;
  runs: PlannedRun[];
}

export interface PlanOptions {
  configFile?: string;
  sets: string[];
  axes: GridAxis[];
  seeds: number[];
  namePrefix?: string;
  backend?: string;
}

/** What to do with a run folder: create it, skip it (completed) or resume it (anything else). */
export function runState(dir: string): { state: RunState; status?: RunStatus } {
  if (!fs.existsSync(dir)) return { state: 'new' };
  let status: RunStatus | undefined;
  try {
    status = readMeta(dir).status;
  } catch {
    // A folder without a readable meta.json is resumed: Run.resume then explains what is wrong.
    return { state: 'resume' };
  }
  return status === 'completed' ? { state: 'completed', status } : { state: 'resume', status };
}

/**
 * Expand the grid and load every run's config before anything trains, so a bad value in any
 * cell is reported at once (naming the cell) rather than after hours of earlier runs.
 */
export function planSweep(o: PlanOptions): SweepPlan {
  const overrides = { backend: o.backend };
  const gridKeys = new Set(o.axes.map((a) => a.key));
  for (const s of o.sets) {
    const key = parseSet(s).path.join('.');
    if (key === 'name' || key === 'seed') throw new UserError(`--set ${key}=...: a sweep sets ${key} itself (use --name-prefix / --seeds)`);
    if (gridKeys.has(key)) throw new UserError(`${key} is given both with --set and with --grid; keep one`);
  }
  const base = loadConfig(o.configFile, { sets: o.sets.map((s) => withSeed(s, o.seeds[0])), overrides });
  const prefix = o.namePrefix ?? base.name;
  if (!/^[A-Za-z0-9._+-]+$/.test(prefix)) throw new UserError(`--name-prefix "${prefix}": use letters, digits and . _ + - only (it names folders)`);
  const runs: PlannedRun[] = [];
  const stale: string[] = [];
  for (const comb of expandGrid(o.axes, o.seeds, prefix)) {
    let config: Config;
    try {
      config = loadConfig(o.configFile, { sets: [...o.sets.map((s) => withSeed(s, comb.seed)), ...comb.sets], overrides });
    } catch (e) {
      if (e instanceof UserError) throw new UserError(`grid cell ${JSON.stringify(comb.grid)}, seed ${comb.seed}: ${e.message}`);
      throw e;
    }
    if (config.runsDir !== base.runsDir) throw new UserError(`runsDir differs between grid cells (${base.runsDir} vs ${config.runsDir}); a sweep lives in one runsDir`);
    const dir = runDirFor(config);
    const state = runState(dir);
    // Names carry only the grid values: an edited config file or --set reuses the folder names.
    // Skipping (completed) or resuming such a run would mix configurations silently.
    const differ = state.state !== 'new' && fs.existsSync(path.join(dir, 'config.yaml')) ? savedConfigDiff(dir, config) : [];
    if (differ.length > 0) stale.push(`${dir} (differs at ${differ.join(', ')})`);
    runs.push({ comb, config, dir, ...state });
  }
  if (stale.length > 0) {
    throw new UserError(
      `these run folders exist with another config than this sweep's:\n  ${stale.join('\n  ')}\n` +
        'Run the sweep with the settings that made them, move them away, or pick another --name-prefix.',
    );
  }
  return { name: prefix, sweepDir: path.join(base.runsDir, 'sweeps', prefix), runs };
}

export function sweepRecordPath(sweepDir: string): string {
  return path.join(sweepDir, 'sweep.json');
}

export function readSweepRecord(sweepDir: string): SweepRecord | null {
  const file = sweepRecordPath(sweepDir);
  if (!fs.existsSync(file)) return null;
  return readJsonFile(file, sweepRecordSchema, {
    what: 'sweep record (sweep.json)',
    fix: 'It is written only by "adagrpo sweep"; move it away and run the sweep command again to rebuild it from the run folders.',
  });
}

/** Upstream hashes a run folder itself records: the shared-stage pointers sft/ and ranker/stage.json. */
export function stagePointers(runDir: string): Upstream {
  const out: Upstream = {};
  for (const stage of ['sft', 'ranker'] as const) {
    const rec = readStageRecord(runDir, stage);
    if (rec) out[stage] = rec.hash;
  }
  return out;
}

/** What `execute` reports for a run it trained. */
export interface ExecuteResult {
  upstream: Upstream;
  test?: SweepRunEntry['test'];
}

export interface SweepDeps {
  /** Train (resume = continue the existing folder) one run to completion, as `train` would. */
  execute(run: PlannedRun, resume: boolean): Promise<ExecuteResult>;
  log(line: string): void;
  signal: AbortSignal;
  now?: () => number;
}

export interface SweepResult {
  trained: number;
  skipped: number;
  failed: { name: string; seed: number; error: string }[];
}

/** `[#####.....]` of width w for done/total. */
export function textBar(done: number, total: number, width = 24): string {
  const full = total === 0 ? width : Math.round((width * done) / total);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}]`;
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

const pct = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(4));

const SWEEP_ADVICE = 'Run the same sweep command again to continue the sweep.';

/**
 * Run the plan in order and keep sweep.json current after every run. A run that stops on a
 * non-finite loss is recorded failed and the sweep goes on; Ctrl-C (InterruptedError) and any
 * other error stop the sweep after recording where it was. Calling it again continues.
 */
export async function runSweep(plan: SweepPlan, deps: SweepDeps, invocation: SweepRecord['invocations'][number]): Promise<SweepResult> {
  const now = deps.now ?? Date.now;
  const nowIso = () => new Date(now()).toISOString();
  const previous = readSweepRecord(plan.sweepDir);
  const record: SweepRecord = previous ?? { formatVersion: SWEEP_FORMAT, name: plan.name, createdAt: nowIso(), updatedAt: nowIso(), invocations: [], runs: [] };
  record.invocations.push(invocation);
  const entryOf = (p: PlannedRun): SweepRunEntry => {
    const rel = path.relative(plan.sweepDir, p.dir);
    let e = record.runs.find((r) => r.dir === rel);
    if (!e) {
      e = { name: p.comb.name, seed: p.comb.seed, dir: rel, grid: p.comb.grid, status: p.status ?? 'pending', upstream: {} };
      record.runs.push(e);
    }
    return e;
  };
  const save = () => {
    record.updatedAt = nowIso();
    writeJsonFile(sweepRecordPath(plan.sweepDir), sweepRecordSchema, record);
  };
  for (const p of plan.runs) {
    const e = entryOf(p);
    if (p.state !== 'new') e.upstream = { ...e.upstream, ...stagePointers(p.dir) };
  }
  save();

  const total = plan.runs.length;
  const result: SweepResult = { trained: 0, skipped: 0, failed: [] };
  const t0 = now();
  let trainedSeconds = 0;
  const overall = (done: number) => {
    // Only runs still to train cost time; completed ones are skipped in an instant.
    const left = plan.runs.slice(done).filter((r) => r.state !== 'completed').length;
    const perRun = result.trained > 0 ? trainedSeconds / result.trained : NaN;
    deps.log(
      `sweep ${textBar(done, total)} ${done}/${total} runs (${result.trained} trained, ${result.skipped} skipped, ${result.failed.length} failed), ` +
        `${duration((now() - t0) / 1000)} elapsed${done < total && Number.isFinite(perRun) && left > 0 ? `, ~${duration(perRun * left)} left` : ''}`,
    );
  };
  for (const [i, p] of plan.runs.entries()) {
    const tag = `[${i + 1}/${total}] ${path.basename(p.dir)}`;
    const e = entryOf(p);
    if (p.state === 'completed') {
      deps.log(`${tag}: completed earlier, skipped`);
      e.status = 'completed';
      result.skipped++;
      overall(i + 1);
      continue;
    }
    if (deps.signal.aborted) {
      save();
      throw new InterruptedError('sweep', i, SWEEP_ADVICE, deps.signal.reason);
    }
    const resume = p.state === 'resume';
    deps.log(`${tag}: ${resume ? `resuming (was ${p.status ?? 'unfinished'})` : 'starting'} ${JSON.stringify(p.comb.grid)} seed ${p.comb.seed}`);
    const started = now();
    e.status = 'running';
    save();
    try {
      const r = await deps.execute(p, resume);
      e.status = 'completed';
      e.upstream = { ...e.upstream, ...r.upstream };
      if (r.test) e.test = r.test;
      const secs = (now() - started) / 1000;
      trainedSeconds += secs;
      result.trained++;
      deps.log(`${tag}: completed in ${duration(secs)}; test HR@10 best ${pct(r.test?.best?.['hr@10'])}, final ${pct(r.test?.final?.['hr@10'])}`);
    } catch (err) {
      e.status = err instanceof InterruptedError ? 'interrupted' : 'failed';
      e.upstream = { ...e.upstream, ...stagePointers(p.dir) };
      save();
      if (err instanceof NonFiniteLossError) {
        result.failed.push({ name: p.comb.name, seed: p.comb.seed, error: err.message });
        deps.log(`${tag}: failed: ${err.message}`);
        overall(i + 1);
        continue;
      }
      if (err instanceof InterruptedError) throw new InterruptedError(err.stage, err.step, SWEEP_ADVICE, err.signal);
      throw err;
    }
    save();
    overall(i + 1);
  }
  return result;
}
