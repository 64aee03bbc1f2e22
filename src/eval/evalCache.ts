/**
 * Checkpoint evaluations of identical policy weights are computed once (docs/METHOD.md 2.6,
 * "Reused evaluations"). The common case: every RL run whose `best` checkpoint is its step 0 (the
 * SFT policy it started from) would decode the whole test split again for the same numbers, once
 * per seed and configuration of a sweep (Amazon Beauty, all 22,363 test users: about 4 min on one
 * wasm thread, each time).
 *
 * The key is a digest of the policy's weights (the optimizer's moments, which a checkpoint also
 * holds, excluded) with everything else the result depends on: the prepared data and semantic IDs,
 * the policy architecture, the evaluation settings, the backend (package, adapter, wasm threads,
 * tfjs version: bit equality is promised only within one) and EVAL_CACHE_FORMAT. Entries live in
 * the stage cache beside the SFT and ranker stages: `<runs>/_stages/eval-<key>.json` and its
 * `.top10.jsonl`. The cache only saves time: an entry that cannot be read is a miss, and one that
 * cannot be written is skipped with a warning.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { BackendInfo } from '../backend.js';
import type { Config } from '../config/schema.js';
import type { PreparedInputs } from '../data/inputs.js';
import type { UserSample } from './evaluate.js';
import { hashOf } from '../hash.js';
import { atomicWrite } from '../io/atomic.js';
import { OPTIMIZER_STATE_PREFIX, readCheckpointBytes } from '../model/checkpoint.js';
import { readEvalReport, writeEvalReport, type EvalReport } from '../runs/evalReport.js';

/**
 * Part of every key: raise it when decoding or a metric changes what an evaluation computes, and
 * the old entries are simply not found any more.
 */
export const EVAL_CACHE_FORMAT = 1;

/**
 * sha256 (hex) of a checkpoint's policy weights: name, dtype, shape and bytes of every tensor
 * except the optimizer's, in name order. Two checkpoints with equal digests decode identically.
 */
export function policyWeightsDigest(ckDir: string): string {
  const tensors = readCheckpointBytes(ckDir)
    .filter((t) => !t.entry.name.startsWith(OPTIMIZER_STATE_PREFIX))
    .sort((a, b) => (a.entry.name < b.entry.name ? -1 : a.entry.name > b.entry.name ? 1 : 0));
  const h = createHash('sha256');
  for (const { entry: e, bytes } of tensors) {
    h.update(`${e.name}\0${e.dtype}\0${e.shape.join('x')}\0`);
    h.update(bytes);
  }
  return h.digest('hex');
}

export interface EvalCacheSettings {
  split: 'valid' | 'test';
  beam: number;
  constrained: boolean;
  /** 0 = all users of the split. */
  maxUsers: number;
  /** How the users were chosen; undefined when all were (evaluate.ts reportedSample). */
  userSample: UserSample | undefined;
}

/** What of the running backend can change an evaluation's bits. */
export function backendKey(b: Pick<BackendInfo, 'name' | 'package' | 'adapter' | 'threads' | 'tfjsVersion'>): Record<string, unknown> {
  return { name: b.name, package: b.package, adapter: b.adapter, threads: b.threads, tfjs: b.tfjsVersion };
}

/** The cache key of evaluating the checkpoint in `ckDir` under `config` with `s` on `backend`. */
export function evalCacheKey(ckDir: string, config: Config, inputs: PreparedInputs, s: EvalCacheSettings, backend: Record<string, unknown>): string {
  return hashOf({
    format: EVAL_CACHE_FORMAT,
    weights: policyWeightsDigest(ckDir),
    data: inputs.manifest.hash,
    sid: inputs.sidHash,
    policy: config.policy,
    // eval.every, maxUsers and testMaxUsers only choose when and on whom; s.maxUsers is the one used.
    ks: config.eval.ks,
    batchSize: config.eval.batchSize,
    ...s,
    backend,
  });
}

/**
 * Where a run's evaluations are cached: the `_stages` folder beside the run folder (the stage
 * cache of the runsDir it was trained in), wherever the command runs from.
 */
export function evalCacheDir(runDir: string): string {
  return path.join(path.dirname(path.resolve(runDir)), '_stages');
}

function entryBase(cacheDir: string, key: string): string {
  return path.join(cacheDir, `eval-${key}`);
}

/** The cached report under `key`, or null when there is none or it cannot be read. */
export function readCachedEval(cacheDir: string, key: string): { report: EvalReport; top10: string } | null {
  const base = entryBase(cacheDir, key);
  try {
    if (!fs.existsSync(`${base}.json`) || !fs.existsSync(`${base}.top10.jsonl`)) return null;
    return { report: readEvalReport(`${base}.json`), top10: fs.readFileSync(`${base}.top10.jsonl`, 'utf8') };
  } catch {
    return null; // a damaged or older entry: decode again (and overwrite it)
  }
}

/**
 * Store a report (as computed, with its own run) and its top-10 lines under `key`. A file-system
 * failure (full disk, read-only runs folder) returns its message for the caller to warn with:
 * the run's own report is already written, so nothing is lost but the saving.
 */
export function writeCachedEval(cacheDir: string, key: string, report: EvalReport, top10: string): string | null {
  const base = entryBase(cacheDir, key);
  try {
    // The top-10 file first: a report without it is not an entry (readCachedEval).
    atomicWrite(`${base}.top10.jsonl`, top10);
    writeEvalReport({ ...report, file: `${base}.json` });
    return null;
  } catch (e) {
    if (typeof (e as NodeJS.ErrnoException).code === 'string') return (e as Error).message;
    throw e;
  }
}
