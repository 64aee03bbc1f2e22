/**
 * Checkpoints: one folder `step_<n>/` holding `tensors.bin` (float32/int32 little-endian, back to
 * back), `index.json` (names, shapes, dtypes, byte offsets) and `state.json` (step, RNG state,
 * best metric, config hash, format version, anything stage-specific). The folder is built in a
 * temp sibling and renamed into place, so a kill never leaves half a checkpoint. `best` and
 * `final` are small JSON pointer files naming a step folder.
 */
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { UserError } from '../errors.js';
import { atomicDir } from '../io/atomic.js';
import { checkJson, readJsonFile, writeJsonFile, type JsonFileKind } from '../io/json.js';

export const CHECKPOINT_FORMAT = 1;

/** Name prefix of the optimizer's tensors in a checkpoint (`adam_m/<param>`, `adam_v/<param>`): not policy weights. */
export const OPTIMIZER_STATE_PREFIX = 'adam_';

/** state.json: everything of a checkpoint that is not a tensor. */
const checkpointStateSchema = z.object({
  formatVersion: z.number().int(),
  /** 'sft' | 'ranker' | 'rl' */
  stage: z.string(),
  step: z.number().int().nonnegative(),
  rng: z.tuple([z.number(), z.number(), z.number(), z.number()]),
  /** Hash of the config sections this stage depends on; loading with another hash is refused. */
  configHash: z.string(),
  bestMetric: z.number().nullable(),
  bestStep: z.number().int().nullable(),
  /** Optimizer update count. */
  optimizerStep: z.number().int().nonnegative(),
  /** Stage-specific records (model/load.ts: SftExtra, RankerExtra; RL's codebook sizes). */
  extra: z.record(z.string(), z.unknown()).optional(),
  /**
   * Step reports since the last `train` metrics row (the stage loop averages them into the next
   * one), so a run resumed mid-interval logs the row an uninterrupted run logs. NaN is null.
   */
  pendingReports: z.array(z.record(z.string(), z.number().nullable())).optional(),
});
export type CheckpointState = z.infer<typeof checkpointStateSchema>;

/** index.json: where each tensor lies in tensors.bin. */
const indexSchema = z.array(
  z.object({
    name: z.string(),
    shape: z.array(z.number().int().nonnegative()),
    dtype: z.enum(['float32', 'int32']),
    offset: z.number().int().nonnegative(),
    length: z.number().int().nonnegative(),
  }),
);
export type IndexEntry = z.infer<typeof indexSchema>[number];

/** best.json, final.json, last.json: a pointer naming a step folder. */
const pointerSchema = z.object({ step: z.number().int().nonnegative(), dir: z.string().regex(/^step_\d+$/), metric: z.number().nullable().optional() });
export type Pointer = z.infer<typeof pointerSchema>;
export type PointerName = 'best' | 'final' | 'last';

function kindOf(file: string): JsonFileKind {
  return {
    what: `checkpoint file (${path.basename(file)})`,
    fix: 'The checkpoint is damaged: delete that stage folder (or that checkpoints/step_N folder) and train the stage again, or resume from an earlier checkpoint.',
  };
}

/** A pointer of a stage folder, or null when the stage has not written it. */
export function readPointer(stageDir: string, which: PointerName): Pointer | null {
  const file = path.join(stageDir, `${which}.json`);
  return fs.existsSync(file) ? readJsonFile(file, pointerSchema, kindOf(file)) : null;
}

/** The state.json of a checkpoint folder. */
export function readCheckpointState(dir: string): CheckpointState {
  const file = path.join(dir, 'state.json');
  return readJsonFile(file, checkpointStateSchema, kindOf(file));
}

export function stepDirName(step: number): string {
  return `step_${step}`;
}

/** Write a checkpoint (atomically). Tensors are read back asynchronously, all queued at once. */
export async function saveCheckpoint(stageDir: string, tensors: Map<string, tf.Tensor>, state: CheckpointState): Promise<string> {
  const dir = path.join(stageDir, 'checkpoints', stepDirName(state.step));
  const entries: IndexEntry[] = [];
  const chunks: Buffer[] = [];
  let offset = 0;
  const values = await Promise.all([...tensors.values()].map((t) => t.data()));
  for (const [k, [name, t]] of [...tensors].entries()) {
    const dtype = t.dtype === 'int32' ? 'int32' : 'float32';
    const data = values[k];
    const typed = dtype === 'int32' ? Int32Array.from(data) : Float32Array.from(data);
    const buf = Buffer.from(typed.buffer, typed.byteOffset, typed.byteLength);
    entries.push({ name, shape: t.shape.slice(), dtype, offset, length: buf.byteLength });
    chunks.push(buf);
    offset += buf.byteLength;
  }
  checkJson(state, checkpointStateSchema, path.join(dir, 'state.json'), kindOf('state.json'));
  atomicDir(dir, (tmp) => {
    fs.writeFileSync(path.join(tmp, 'tensors.bin'), Buffer.concat(chunks));
    fs.writeFileSync(path.join(tmp, 'index.json'), JSON.stringify(entries, null, 1));
    fs.writeFileSync(path.join(tmp, 'state.json'), JSON.stringify(state, null, 2));
  });
  writeJsonFile(path.join(stageDir, 'last.json'), pointerSchema, { step: state.step, dir: stepDirName(state.step) });
  return dir;
}

export interface LoadedCheckpoint {
  dir: string;
  state: CheckpointState;
  /** Caller owns these tensors and must dispose them. */
  tensors: Map<string, tf.Tensor>;
}

/**
 * Resolve `best` | `final` | `last` | `step_N` inside a stage folder to a checkpoint folder.
 * Throws a UserError listing what exists when it cannot.
 */
export function resolveCheckpoint(stageDir: string, which: string): string {
  const ckDir = path.join(stageDir, 'checkpoints');
  if (/^step_\d+$/.test(which)) {
    const d = path.join(ckDir, which);
    if (fs.existsSync(path.join(d, 'state.json'))) return d;
  } else if (which === 'best' || which === 'final' || which === 'last') {
    const ptr = readPointer(stageDir, which);
    if (ptr) return path.join(ckDir, ptr.dir);
  }
  const have = fs.existsSync(ckDir) ? fs.readdirSync(ckDir).filter((d) => d.startsWith('step_')) : [];
  const pointers = ['best', 'final', 'last'].filter((w) => fs.existsSync(path.join(stageDir, `${w}.json`)));
  throw new UserError(
    `checkpoint "${which}" not found in ${stageDir}. Available: ${[...pointers, ...have].join(', ') || 'none (the stage has not saved one yet)'}`,
  );
}

/**
 * A checkpoint's tensors as raw bytes: each index.json entry (name, shape, dtype) with its slice
 * of tensors.bin, checked against the file's length. A missing or truncated file is a UserError.
 */
export function readCheckpointBytes(dir: string): { entry: IndexEntry; bytes: Buffer }[] {
  const indexFile = path.join(dir, 'index.json');
  const index: IndexEntry[] = readJsonFile(indexFile, indexSchema, kindOf(indexFile));
  let bin: Buffer;
  try {
    bin = fs.readFileSync(path.join(dir, 'tensors.bin'));
  } catch (e) {
    throw new UserError(`cannot read checkpoint ${dir}: ${(e as Error).message}. ${kindOf('tensors.bin').fix}`);
  }
  return index.map((e) => {
    const want = e.shape.reduce((a, b) => a * b, 1) * 4;
    if (e.length !== want || e.offset + e.length > bin.byteLength) {
      throw new UserError(
        `checkpoint ${dir}: tensors.bin holds ${bin.byteLength} bytes, but "${e.name}" needs bytes ${e.offset}-${e.offset + want} ` +
          `(the file is truncated or damaged). ${kindOf('tensors.bin').fix}`,
      );
    }
    return { entry: e, bytes: bin.subarray(e.offset, e.offset + e.length) };
  });
}

export function loadCheckpoint(dir: string, expect?: { stage?: string; configHash?: string }): LoadedCheckpoint {
  const state = readCheckpointState(dir);
  if (state.formatVersion !== CHECKPOINT_FORMAT) {
    throw new UserError(`checkpoint ${dir} has format version ${state.formatVersion}; this adagrpo reads version ${CHECKPOINT_FORMAT}`);
  }
  if (expect?.stage && state.stage !== expect.stage) {
    throw new UserError(`checkpoint ${dir} is a ${state.stage} checkpoint, expected ${expect.stage}`);
  }
  if (expect?.configHash && state.configHash !== expect.configHash) {
    throw new UserError(
      `checkpoint ${dir} was made with a different config (hash ${state.configHash}, this config ${expect.configHash}). ` +
        `Resume with the run's own config.yaml, or start a new run.`,
    );
  }
  const tensors = new Map<string, tf.Tensor>();
  for (const { entry: e, bytes } of readCheckpointBytes(dir)) {
    const copy = new Uint8Array(bytes).buffer; // aligned copy for the typed-array view
    const values = e.dtype === 'int32' ? new Int32Array(copy) : new Float32Array(copy);
    tensors.set(e.name, tf.tensor(values, e.shape, e.dtype));
  }
  return { dir, state, tensors };
}

/** Point `best` or `final` at a saved step. */
export function setPointer(stageDir: string, which: 'best' | 'final', step: number, metric?: number): void {
  writeJsonFile(path.join(stageDir, `${which}.json`), pointerSchema, { step, dir: stepDirName(step), metric: metric ?? null });
}

/**
 * Keep disk bounded: delete step folders other than the newest `keep` and those that a pointer
 * names.
 */
export function pruneCheckpoints(stageDir: string, keep = 2): void {
  const ckDir = path.join(stageDir, 'checkpoints');
  if (!fs.existsSync(ckDir)) return;
  const pinned = new Set<string>();
  for (const w of ['best', 'final', 'last'] as const) {
    const ptr = readPointer(stageDir, w);
    if (ptr) pinned.add(ptr.dir);
  }
  const steps = fs
    .readdirSync(ckDir)
    .filter((d) => /^step_\d+$/.test(d))
    .sort((a, b) => Number(b.slice(5)) - Number(a.slice(5)));
  for (const d of steps.slice(keep)) if (!pinned.has(d)) fs.rmSync(path.join(ckDir, d), { recursive: true, force: true });
}
