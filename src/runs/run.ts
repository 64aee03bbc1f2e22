/**
 * Run folders (docs/METHOD.md 4): `<runsDir>/<name>_s<seed>/` with the resolved config, meta.json and an
 * append-only metrics.jsonl. A run folder is never overwritten: creating one that exists is a
 * user error that points to `--resume`.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import YAML from 'yaml';
import { COMPUTE_ONLY_KEYS, type Config } from '../config/schema.js';
import { diffPaths } from '../config/diff.js';
import { configToYaml, validateConfig } from '../config/load.js';
import { UserError } from '../errors.js';
import { atomicWrite } from '../io/atomic.js';
import { acquireLock, type Lock } from '../io/lock.js';
import type { BackendInfo } from '../backend.js';
import { readMeta, writeMeta, type RunMeta, type RunStatus } from './meta.js';
import { appendMetricsRow, metricsFile, truncateMetrics, type MetricsRowInput, type StageId } from './metrics.js';

export type { RunMeta, RunStatus } from './meta.js';

/** Package root (where package.json is), from dist/runs/run.js. */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export function packageVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function gitInfo(): RunMeta['git'] {
  try {
    const opts = { cwd: PACKAGE_ROOT, stdio: ['ignore', 'pipe', 'ignore'] as ['ignore', 'pipe', 'ignore'], encoding: 'utf8' as const };
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], opts).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], opts).trim().length > 0;
    return { commit, dirty };
  } catch {
    return { commit: null, dirty: null };
  }
}

export function runDirFor(config: Config): string {
  return path.join(config.runsDir, `${config.name}_s${config.seed}`);
}

export class Run {
  readonly metricsPath: string;
  private meta: RunMeta;

  private constructor(
    readonly dir: string,
    readonly config: Config,
    meta: RunMeta,
    /** Made by this process (not resumed): see discardIfEmpty. */
    private readonly fresh = false,
  ) {
    this.metricsPath = metricsFile(dir);
    this.meta = meta;
  }

  /** Create a new run folder; refuses to touch an existing one. */
  static create(config: Config, argv: string[]): Run {
    const dir = runDirFor(config);
    checkRunsDir(config.runsDir);
    if (fs.existsSync(dir)) {
      throw new UserError(
        `run folder ${dir} already exists. Continue it with --resume, or pick another --set name=... / --set seed=... to start a new run.`,
      );
    }
    fs.mkdirSync(dir, { recursive: true });
    try {
      return Run.fill(dir, config, argv);
    } catch (e) {
      // A folder without its config.yaml and meta.json is no run (a full disk, say): leave none.
      fs.rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  private static fill(dir: string, config: Config, argv: string[]): Run {
    const now = new Date().toISOString();
    const meta: RunMeta = {
      argv,
      git: gitInfo(),
      versions: { adagrpo: packageVersion(), tfjs: tf.version.tfjs, node: process.version },
      backend: null,
      startedAt: now,
      endedAt: null,
      status: 'running',
      error: null,
      sessions: [{ startedAt: now, argv, resumed: false }],
    };
    atomicWrite(path.join(dir, 'config.yaml'), configToYaml(config));
    const run = new Run(dir, config, meta, true);
    run.saveMeta();
    return run;
  }

  /**
   * Open an existing run to continue it; its own config.yaml is the config, except that the
   * COMPUTE_ONLY_KEYS (backend, micro-batch sizes) of `current` apply when given: a run that ran
   * out of memory continues with a smaller micro-batch.
   */
  static resume(dir: string, argv: string[], current?: Config): Run {
    const saved = readRunConfig(dir);
    const config = current ? withComputeOnlyKeys(saved, current) : saved;
    const meta = readMeta(dir);
    if (meta.status === 'completed') {
      throw new UserError(`run ${dir} has already completed; nothing to resume. Start a new run with another name or seed.`);
    }
    const now = new Date().toISOString();
    meta.sessions.push({ startedAt: now, argv, resumed: true });
    meta.status = 'running';
    meta.error = null;
    meta.endedAt = null;
    // A crash can leave a torn last row; each resumed stage then cuts its own rows back to its checkpoint.
    truncateMetrics(dir);
    const run = new Run(dir, config, meta);
    run.saveMeta();
    return run;
  }

  /** Open a run read-only (eval, stratify). */
  static open(dir: string): Run {
    return new Run(dir, readRunConfig(dir), readMeta(dir));
  }

  get status(): RunStatus {
    return this.meta.status;
  }

  setBackend(b: BackendInfo): void {
    this.meta.backend = { name: b.name, package: b.package, threads: b.threads, adapter: b.adapter, skipped: b.skipped, warnings: b.warnings };
    this.saveMeta();
  }

  /** One row of metrics.jsonl per logged step or evaluation; `stage` and `time` are added. */
  logMetrics(stage: StageId, row: MetricsRowInput): void {
    appendMetricsRow(this.dir, stage, row);
  }

  finish(status: Exclude<RunStatus, 'running'>, error?: unknown): void {
    this.meta.status = status;
    this.meta.endedAt = new Date().toISOString();
    this.meta.error = error === undefined ? null : error instanceof Error ? error.message : String(error);
    this.saveMeta();
  }

  /**
   * Remove the folder of a run made by this process that failed before it logged a metrics row or
   * saved a checkpoint of its own (bad data, a bad SID file, a damaged cache entry): it holds
   * nothing a new `train` does not write again, and left behind it would make that `train` refuse
   * with "already exists". Returns whether it was removed.
   */
  discardIfEmpty(): boolean {
    if (!this.fresh) return false;
    const logged = fs.existsSync(this.metricsPath) && fs.statSync(this.metricsPath).size > 0;
    // The run's own stages (rl, a baseline's model) keep their checkpoints in <run>/<stage>/checkpoints.
    const saved = fs.readdirSync(this.dir, { withFileTypes: true }).some((d) => d.isDirectory() && fs.existsSync(path.join(this.dir, d.name, 'checkpoints')));
    if (logged || saved) return false;
    fs.rmSync(this.dir, { recursive: true, force: true });
    return true;
  }

  private saveMeta(): void {
    writeMeta(this.dir, this.meta);
  }
}

/** `saved` with the COMPUTE_ONLY_KEYS values of `current`. */
function withComputeOnlyKeys(saved: Config, current: Config): Config {
  const raw = structuredClone(saved) as unknown as Record<string, Record<string, unknown>>;
  const from = current as unknown as Record<string, Record<string, unknown>>;
  for (const key of COMPUTE_ONLY_KEYS) {
    const [a, b] = key.split('.');
    if (b === undefined) raw[a] = from[a];
    else raw[a][b] = from[a][b];
  }
  return validateConfig(raw, [], new Set(), 'run config');
}

/**
 * runsDir must be a folder the process can write (or not exist yet: it is made). Checked before a
 * run folder is made, so the message names the setting rather than a failed mkdir.
 */
export function checkRunsDir(runsDir: string): void {
  if (!fs.existsSync(runsDir)) return;
  if (!fs.statSync(runsDir).isDirectory()) {
    throw new UserError(`runsDir ${runsDir} is a file, not a folder. Move the file away, or set runsDir to a folder (--set runsDir=...).`);
  }
  try {
    fs.accessSync(runsDir, fs.constants.W_OK);
  } catch (e) {
    throw new UserError(
      `runsDir ${runsDir} is read-only (${(e as NodeJS.ErrnoException).code}). Make it writable, or set runsDir to a writable folder (--set runsDir=...).`,
    );
  }
}

/**
 * The lock of a config's run folder, held by whatever writes to it (train, --resume, baseline):
 * one writer per run folder; a second one exits 2 naming the holder. runsDir is checked first, so
 * a read-only or misplaced runsDir is named as the setting, not as a failed lock file.
 */
export async function lockRunFolder(config: Config, purpose: string, log: (line: string) => void): Promise<Lock> {
  checkRunsDir(config.runsDir);
  const dir = runDirFor(config);
  return acquireLock(dir, { what: `the run folder ${dir}`, purpose, wait: false, log });
}

/** Read and re-validate a run's config.yaml (so an edited or older file is caught clearly). */
export function readRunConfig(dir: string): Config {
  const file = path.join(dir, 'config.yaml');
  if (!fs.existsSync(file)) {
    throw new UserError(`${dir} is not a run folder (no config.yaml). Run folders are made by "adagrpo train".`);
  }
  const lines = new YAML.LineCounter();
  const doc = YAML.parseDocument(fs.readFileSync(file, 'utf8'), { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    const at = lines.linePos(doc.errors[0].pos[0]);
    throw new UserError(
      `${file}:${at.line}:${at.col}: malformed YAML in the run's config (${doc.errors[0].message.split('\n')[0]}). ` +
        `It is written only by "adagrpo train": restore it (meta.json's argv shows how the run was started), or train the run again under a new name.`,
    );
  }
  const raw = doc.toJS() as unknown;
  if (raw === null || raw === undefined) {
    throw new UserError(`${file} is empty. It is written only by "adagrpo train": restore it, or train the run again under a new name.`);
  }
  return validateConfig(raw, [], new Set(), `run config ${file}`);
}

/**
 * Dot paths at which `config` differs from the config saved in the run folder `dir` (the backend
 * and micro-batch sizes may differ: COMPUTE_ONLY_KEYS change how, not what, is computed). A run
 * may only continue with its own config.
 */
export function savedConfigDiff(dir: string, config: Config): string[] {
  const free = new Set<string>(COMPUTE_ONLY_KEYS);
  return diffPaths(readRunConfig(dir), config).filter((k) => !free.has(k));
}

