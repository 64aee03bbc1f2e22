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
import { configOverrides, loadConfig, parseSet } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { UserError, InterruptedError, NonFiniteLossError } from '../errors.js';
import { z } from 'zod';
import { acquireLock, deadReason, describeHolder, LockWaitInterrupted, readHolder, withLock } from '../io/lock.js';
import { readJsonFile, writeJsonFile } from '../io/json.js';
import { readMeta, RUN_STATUSES, type RunStatus } from '../runs/meta.js';
import { checkRunsDir, runDirFor, savedConfigDiff } from '../runs/run.js';
import { readStageRecord } from '../runs/stages.js';
import type { Upstream } from '../runs/upstream.js';
import { expandGrid, withSeed, type Combination, type GridAxis } from './grid.js';
import { partitionCells, runDependencies, type Partition, type ShardSpec } from './shard.js';

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
    z.object({
      at: z.string(),
      config: z.string().nullable(),
      sets: z.array(z.string()),
      grid: z.array(z.object({ key: z.string(), texts: z.array(z.string()) })),
      seeds: z.array(z.number().int()),
      /** `K/N` when the call ran one shard. */
      shard: z.string().optional(),
    }),
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
  /** --threads, as typed. */
  threads?: string;
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
  const overrides = configOverrides(o);
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

/** Why a sweep cannot start: a cell depends on a run outside the sweep that has not completed. */
export function checkExternalDependencies(external: Partition<PlannedRun>['external']): void {
  const missing = external.filter((x) => runState(x.dir).state !== 'completed');
  if (missing.length === 0) return;
  const lines = missing.map((x) => {
    const holder = readHolder(x.dir);
    const now = holder ? `running (${describeHolder(holder)})` : fs.existsSync(x.dir) ? `${runState(x.dir).status ?? 'unfinished'}` : 'not started';
    return `${x.cell.dir}: ${x.key}=${x.dir} is ${now}`;
  });
  throw new UserError(
    `runs of this sweep depend on runs outside it that have not completed:\n  ${[...new Set(lines)].join('\n  ')}\n` +
      'Train those first (or add them to this sweep\'s grid, where they run before their dependents); ' +
      'on Slurm, submit this sweep with sbatch --dependency=afterok:<job id of theirs>.',
  );
}

/**
 * Run the plan's cells (those of one shard with `shard`, in the partition's order) and keep
 * sweep.json current after every run. Several shards may run at once on one runs folder: each run
 * folder is locked while a shard trains it (another process reaching it waits, then skips or
 * resumes what it finds), and sweep.json is updated under its own lock, each process writing only
 * its own cells. A run that stops on a non-finite loss is recorded failed and the sweep goes on
 * (its dependents are recorded failed without training); Ctrl-C (InterruptedError) and any other
 * error stop the sweep after recording where it was. Calling it again continues.
 */
export async function runSweep(
  plan: SweepPlan,
  deps: SweepDeps,
  invocation: SweepRecord['invocations'][number],
  shard: ShardSpec = { index: 1, count: 1 },
): Promise<SweepResult> {
  const now = deps.now ?? Date.now;
  const nowIso = () => new Date(now()).toISOString();
  if (plan.runs.length > 0) checkRunsDir(plan.runs[0].config.runsDir); // before the first lock file goes there
  const partition = partitionCells(plan.runs, shard.count);
  checkExternalDependencies(partition.external);
  const mine = partition.shards[shard.index - 1];
  const rel = (p: PlannedRun) => path.relative(plan.sweepDir, p.dir);
  const fresh = (p: PlannedRun): SweepRunEntry => ({
    name: p.comb.name,
    seed: p.comb.seed,
    dir: rel(p),
    grid: p.comb.grid,
    status: p.status ?? 'pending',
    upstream: p.state !== 'new' ? stagePointers(p.dir) : {},
  });
  // This process's cells, starting from what an earlier call recorded of them (test metrics of
  // runs it will skip): what it learns of them is written over the record's entries.
  const earlier = readSweepRecord(plan.sweepDir)?.runs ?? [];
  const own = new Map(
    mine.map((p) => {
      const e = earlier.find((r) => r.dir === rel(p));
      return [rel(p), e ? { ...e, upstream: { ...e.upstream, ...fresh(p).upstream } } : fresh(p)];
    }),
  );
  let invocationSaved = false;
  const save = () =>
    withLock(
      sweepRecordPath(plan.sweepDir),
      { what: `the sweep record ${sweepRecordPath(plan.sweepDir)}`, purpose: 'updating the sweep record', wait: true, quiet: true, log: deps.log },
      () => {
        const record: SweepRecord = readSweepRecord(plan.sweepDir) ?? { formatVersion: SWEEP_FORMAT, name: plan.name, createdAt: nowIso(), updatedAt: nowIso(), invocations: [], runs: [] };
        if (!invocationSaved) record.invocations.push(invocation);
        invocationSaved = true;
        // Every cell of the sweep is listed (in plan order when new), so that report sees the whole sweep from any shard.
        for (const p of plan.runs) if (!record.runs.some((r) => r.dir === rel(p))) record.runs.push(own.get(rel(p)) ?? fresh(p));
        record.runs = record.runs.map((r) => own.get(r.dir) ?? r);
        record.updatedAt = nowIso();
        writeJsonFile(sweepRecordPath(plan.sweepDir), sweepRecordSchema, record);
      },
    );
  await save();

  const total = mine.length;
  const result: SweepResult = { trained: 0, skipped: 0, failed: [] };
  const t0 = now();
  let trainedSeconds = 0;
  const overall = (done: number) => {
    // Only runs still to train cost time; completed ones are skipped in an instant.
    const left = mine.slice(done).filter((r) => r.state !== 'completed').length;
    const perRun = result.trained > 0 ? trainedSeconds / result.trained : NaN;
    deps.log(
      `sweep${shard.count > 1 ? ` shard ${shard.index}/${shard.count}` : ''} ${textBar(done, total)} ${done}/${total} runs (${result.trained} trained, ${result.skipped} skipped, ${result.failed.length} failed), ` +
        `${duration((now() - t0) / 1000)} elapsed${done < total && Number.isFinite(perRun) && left > 0 ? `, ~${duration(perRun * left)} left` : ''}`,
    );
  };
  for (const [i, planned] of mine.entries()) {
    const tag = `[${i + 1}/${total}] ${path.basename(planned.dir)}`;
    const e = own.get(rel(planned))!;
    if (planned.state === 'completed') {
      deps.log(`${tag}: completed earlier, skipped`);
      e.status = 'completed';
      result.skipped++;
      overall(i + 1);
      continue;
    }
    if (deps.signal.aborted) {
      await save();
      throw new InterruptedError('sweep', i, SWEEP_ADVICE, deps.signal.reason);
    }
    // Another process (a second sweep on this runs folder) may be training this very run: wait
    // for it, then look again at what the folder holds.
    const lock = await acquireLock(planned.dir, { what: `the run folder ${planned.dir}`, purpose: `sweep ${plan.name}`, wait: true, log: deps.log, signal: deps.signal });
    try {
      const p: PlannedRun = { ...planned, ...runState(planned.dir) };
      if (p.state === 'completed') {
        deps.log(`${tag}: completed by another process, skipped`);
        e.status = 'completed';
        e.upstream = { ...e.upstream, ...stagePointers(p.dir) };
        result.skipped++;
        overall(i + 1);
        continue;
      }
      const blocked = runDependencies(p.config).filter((d) => runState(d.dir).state !== 'completed');
      if (blocked.length > 0) {
        const why = `${blocked.map((d) => `${d.key}=${d.dir}`).join(', ')} did not complete`;
        e.status = 'failed';
        result.failed.push({ name: p.comb.name, seed: p.comb.seed, error: why });
        deps.log(`${tag}: not trained: ${why}`);
        await save();
        overall(i + 1);
        continue;
      }
      const resume = p.state === 'resume';
      deps.log(`${tag}: ${resume ? `resuming (was ${p.status ?? 'unfinished'})` : 'starting'} ${JSON.stringify(p.comb.grid)} seed ${p.comb.seed}`);
      const started = now();
      e.status = 'running';
      await save();
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
        const interrupted = err instanceof InterruptedError || err instanceof LockWaitInterrupted;
        e.status = interrupted ? 'interrupted' : 'failed';
        e.upstream = { ...e.upstream, ...stagePointers(p.dir) };
        await save();
        if (err instanceof NonFiniteLossError) {
          result.failed.push({ name: p.comb.name, seed: p.comb.seed, error: err.message });
          deps.log(`${tag}: failed: ${err.message}`);
          overall(i + 1);
          continue;
        }
        if (err instanceof InterruptedError) throw new InterruptedError(err.stage, err.step, SWEEP_ADVICE, err.signal);
        throw err;
      }
      await save();
      overall(i + 1);
    } finally {
      lock.release();
    }
  }
  await save();
  return result;
}

export type CellState = 'done' | 'running' | 'waiting' | 'failed' | 'interrupted' | 'stopped';

export interface CellStatus {
  dir: string;
  state: CellState;
  /** Shard (1-based) of the cell in the partition into `shards`. */
  shard: number;
  detail: string;
}

/**
 * Where every cell of a sweep stands, from the run folders and their locks alone (so it is true
 * whichever processes, hosts or array tasks run the shards): done (completed), running (its run
 * folder is locked by a live process), waiting (not started), failed or interrupted (as its
 * meta.json says), stopped (meta.json says running but no process holds the run: it was killed).
 */
export function sweepStatus(plan: SweepPlan, shards: number): CellStatus[] {
  const partition = partitionCells(plan.runs, shards);
  const shardOf = new Map(partition.shards.flatMap((cells, k) => cells.map((c) => [c.dir, k + 1] as const)));
  return plan.runs.map((p) => {
    const shard = shardOf.get(p.dir)!;
    const holder = readHolder(p.dir);
    const alive = holder !== null && deadReason(p.dir, holder) === null;
    const { state, status } = runState(p.dir);
    if (state === 'completed') return { dir: p.dir, state: 'done', shard, detail: '' };
    if (alive) return { dir: p.dir, state: 'running', shard, detail: `${describeHolder(holder)}: ${holder.purpose}` };
    if (state === 'new') return { dir: p.dir, state: 'waiting', shard, detail: '' };
    if (status === 'failed' || status === 'interrupted') return { dir: p.dir, state: status, shard, detail: '' };
    return { dir: p.dir, state: 'stopped', shard, detail: holder ? `its holder ${describeHolder(holder)} is gone` : 'no process holds it' };
  });
}
