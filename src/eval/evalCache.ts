/**
 * Checkpoint evaluations of identical policy weights are computed once (docs/METHOD.md 2.6,
 * "Reused evaluations"). The common case: every RL run whose `best` checkpoint is its step 0 (the
 * SFT policy it started from) would decode the whole test split again for the same numbers, once
 * per seed and configuration of a sweep (Amazon Beauty, all 22,363 test users: about 4 min on one
 * wasm thread, each time).
 *
 * The key is a digest of the policy's weights (the optimizer's moments, which a checkpoint also
 * holds, excluded) with everything else the result depends on: the prepared data and semantic IDs,
 * the policy architecture, the evaluation settings and the backend with its wasm thread count (bit
 * equality is promised only within one backend). Entries live in the stage cache beside the SFT and
 * ranker stages: `<runsDir>/_stages/eval-<key>.json` and its `.top10.jsonl`.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/schema.js';
import type { PreparedInputs } from '../data/inputs.js';
import { hashOf } from '../hash.js';
import { atomicWrite } from '../io/atomic.js';
import { readCheckpointIndex } from '../model/checkpoint.js';
import { OPTIMIZER_STATE_PREFIX } from '../train/optimizer.js';
import { readEvalReport, writeEvalReport, type EvalReport } from '../runs/evalReport.js';

/**
 * sha256 (hex) of a checkpoint's policy weights: name, dtype, shape and bytes of every tensor
 * except the optimizer's, in name order. Two checkpoints with equal digests decode identically.
 */
export function policyWeightsDigest(ckDir: string): string {
  const index = readCheckpointIndex(ckDir)
    .filter((e) => !e.name.startsWith(OPTIMIZER_STATE_PREFIX))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const bin = fs.readFileSync(path.join(ckDir, 'tensors.bin'));
  const h = createHash('sha256');
  for (const e of index) {
    h.update(`${e.name}\0${e.dtype}\0${e.shape.join('x')}\0`);
    h.update(bin.subarray(e.offset, e.offset + e.length));
  }
  return h.digest('hex');
}

export interface EvalCacheSettings {
  split: 'valid' | 'test';
  beam: number;
  constrained: boolean;
  /** 0 = all users of the split. */
  maxUsers: number;
  /** Backend name and wasm threads (null elsewhere). */
  backend: string;
  threads: number | null;
}

/** The cache key of evaluating the checkpoint in `ckDir` under `config` with `s`. */
export function evalCacheKey(ckDir: string, config: Config, inputs: PreparedInputs, s: EvalCacheSettings): string {
  return hashOf({
    weights: policyWeightsDigest(ckDir),
    data: inputs.manifest.hash,
    sid: inputs.sidHash,
    policy: config.policy,
    // eval.every, maxUsers and testMaxUsers only choose when and on whom; s.maxUsers is the one used.
    ks: config.eval.ks,
    batchSize: config.eval.batchSize,
    ...s,
  });
}

function entryBase(runsDir: string, key: string): string {
  return path.join(runsDir, '_stages', `eval-${key}`);
}

/** The cached report under `key`, or null when there is none (or its top-10 file is missing). */
export function readCachedEval(runsDir: string, key: string): { report: EvalReport; top10: string } | null {
  const base = entryBase(runsDir, key);
  if (!fs.existsSync(`${base}.json`) || !fs.existsSync(`${base}.top10.jsonl`)) return null;
  return { report: readEvalReport(`${base}.json`), top10: fs.readFileSync(`${base}.top10.jsonl`, 'utf8') };
}

/** Store a report (as computed, with its own run and file) and its top-10 lines under `key`. */
export function writeCachedEval(runsDir: string, key: string, report: EvalReport, top10: string): void {
  const base = entryBase(runsDir, key);
  // The top-10 file first: a report without it is not an entry (readCachedEval).
  atomicWrite(`${base}.top10.jsonl`, top10);
  writeEvalReport({ ...report, file: `${base}.json` });
}
