/**
 * Where a run's stages live (docs/METHOD.md 4). The sft and ranker stages of a run are entries of
 * the shared stage cache (`<runsDir>/_stages/<stage>-<hash>/`); the run's own `sft/` and `ranker/`
 * folders hold a `stage.json` that names the entry. The rl stage lives in the run folder itself.
 * This module is the only reader and writer of stage.json.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { readJsonFile, writeJsonFile } from '../io/json.js';

const stageRecordSchema = z.object({ stage: z.enum(['sft', 'ranker']), hash: z.string(), dir: z.string() });
export type StageRecord = z.infer<typeof stageRecordSchema>;

function recordFile(runDir: string, stage: string): string {
  return path.join(runDir, stage, 'stage.json');
}

/** The cache entry a run's shared stage points at, or null when the run has no record of it. */
export function readStageRecord(runDir: string, stage: 'sft' | 'ranker'): StageRecord | null {
  const file = recordFile(runDir, stage);
  if (!fs.existsSync(file)) return null;
  return readJsonFile(file, stageRecordSchema, {
    what: 'stage record (stage.json)',
    fix: 'It is written only by "adagrpo train"; resume the run (--resume) to write it again.',
  });
}

/** Point a run's `stage` folder at a cache entry. */
export function writeStageRecord(runDir: string, stage: 'sft' | 'ranker', hash: string, stageDir: string): void {
  writeJsonFile(recordFile(runDir, stage), stageRecordSchema, { stage, hash, dir: path.relative(runDir, stageDir) });
}

/** Folder that holds a stage's checkpoints for a run: the shared cache entry for sft and ranker. */
export function resolveStageDir(runDir: string, stage: 'sft' | 'ranker' | 'rl'): string {
  const rec = stage === 'rl' ? null : readStageRecord(runDir, stage);
  return rec ? path.resolve(runDir, rec.dir) : path.join(runDir, stage);
}

export function isStageComplete(stageDir: string): boolean {
  return fs.existsSync(path.join(stageDir, 'final.json'));
}
