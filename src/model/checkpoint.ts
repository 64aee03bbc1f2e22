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
import { UserError } from '../errors.js';
import { atomicDir, atomicWriteJson } from '../io/atomic.js';
import type { RngState } from '../rng.js';

export const CHECKPOINT_FORMAT = 1;

export interface CheckpointState {
  formatVersion: number;
  /** 'sft' | 'ranker' | 'rl' */
  stage: string;
  step: number;
  rng: RngState;
  /** Hash of the config sections this stage depends on; loading with another hash is refused. */
  configHash: string;
  bestMetric: number | null;
  bestStep: number | null;
  /** Optimizer update count. */
  optimizerStep: number;
  extra?: Record<string, unknown>;
}

interface IndexEntry {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  offset: number;
  length: number;
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
  atomicDir(dir, (tmp) => {
    fs.writeFileSync(path.join(tmp, 'tensors.bin'), Buffer.concat(chunks));
    fs.writeFileSync(path.join(tmp, 'index.json'), JSON.stringify(entries, null, 1));
    fs.writeFileSync(path.join(tmp, 'state.json'), JSON.stringify(state, null, 2));
  });
  atomicWriteJson(path.join(stageDir, 'last.json'), { step: state.step, dir: stepDirName(state.step) });
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
  } else if (['best', 'final', 'last'].includes(which)) {
    const p = path.join(stageDir, `${which}.json`);
    if (fs.existsSync(p)) {
      const ptr = JSON.parse(fs.readFileSync(p, 'utf8')) as { dir: string };
      return path.join(ckDir, ptr.dir);
    }
  }
  const have = fs.existsSync(ckDir) ? fs.readdirSync(ckDir).filter((d) => d.startsWith('step_')) : [];
  const pointers = ['best', 'final', 'last'].filter((w) => fs.existsSync(path.join(stageDir, `${w}.json`)));
  throw new UserError(
    `checkpoint "${which}" not found in ${stageDir}. Available: ${[...pointers, ...have].join(', ') || 'none (the stage has not saved one yet)'}`,
  );
}

export function loadCheckpoint(dir: string, expect?: { stage?: string; configHash?: string }): LoadedCheckpoint {
  let state: CheckpointState;
  let index: IndexEntry[];
  let bin: Buffer;
  try {
    state = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')) as CheckpointState;
    index = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8')) as IndexEntry[];
    bin = fs.readFileSync(path.join(dir, 'tensors.bin'));
  } catch (e) {
    throw new UserError(`cannot read checkpoint ${dir}: ${(e as Error).message}`);
  }
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
  for (const e of index) {
    const slice = bin.subarray(e.offset, e.offset + e.length);
    const copy = new Uint8Array(slice).buffer; // aligned copy for the typed-array view
    const values = e.dtype === 'int32' ? new Int32Array(copy) : new Float32Array(copy);
    tensors.set(e.name, tf.tensor(values, e.shape, e.dtype));
  }
  return { dir, state, tensors };
}

/** Point `best` or `final` at a saved step. */
export function setPointer(stageDir: string, which: 'best' | 'final', step: number, metric?: number): void {
  atomicWriteJson(path.join(stageDir, `${which}.json`), { step, dir: stepDirName(step), metric: metric ?? null });
}

/**
 * Keep disk bounded: delete step folders other than the newest `keep` and those that a pointer
 * names.
 */
export function pruneCheckpoints(stageDir: string, keep = 2): void {
  const ckDir = path.join(stageDir, 'checkpoints');
  if (!fs.existsSync(ckDir)) return;
  const pinned = new Set<string>();
  for (const w of ['best', 'final', 'last']) {
    const p = path.join(stageDir, `${w}.json`);
    if (fs.existsSync(p)) pinned.add((JSON.parse(fs.readFileSync(p, 'utf8')) as { dir: string }).dir);
  }
  const steps = fs
    .readdirSync(ckDir)
    .filter((d) => /^step_\d+$/.test(d))
    .sort((a, b) => Number(b.slice(5)) - Number(a.slice(5)));
  for (const d of steps.slice(keep)) if (!pinned.has(d)) fs.rmSync(path.join(ckDir, d), { recursive: true, force: true });
}
