/**
 * meta.json of a run folder (docs/METHOD.md 4): how the run was started and how it ended. This
 * module is its only reader and writer.
 */
import path from 'node:path';
import { z } from 'zod';
import { readJsonFile, writeJsonFile, type JsonFileKind } from '../io/json.js';

export const RUN_STATUSES = ['running', 'completed', 'failed', 'interrupted'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

const metaSchema = z.object({
  argv: z.array(z.string()),
  git: z.object({ commit: z.string().nullable(), dirty: z.boolean().nullable() }),
  versions: z.object({ adagrpo: z.string(), tfjs: z.string(), node: z.string() }),
  /**
   * The backend of the latest session, its wasm thread count (null on other backends), its WebGPU
   * adapter, and why earlier candidates were skipped (older runs lack threads; runs before the
   * webgpu backend have only name and package).
   */
  backend: z
    .object({
      name: z.string(),
      package: z.string(),
      threads: z.number().int().nullable().optional(),
      adapter: z.object({ vendor: z.string(), architecture: z.string(), device: z.string(), description: z.string(), software: z.boolean() }).nullable().optional(),
      skipped: z.array(z.object({ candidate: z.string(), reason: z.string() })).optional(),
      warnings: z.array(z.string()).optional(),
    })
    .nullable(),
  startedAt: z.string(),
  endedAt: z.string().nullable(),
  status: z.enum(RUN_STATUSES),
  error: z.string().nullable(),
  /** Every (re)start of this run: resume appends one. */
  sessions: z.array(z.object({ startedAt: z.string(), argv: z.array(z.string()), resumed: z.boolean() })),
});
export type RunMeta = z.infer<typeof metaSchema>;

const KIND: JsonFileKind = {
  what: 'run metadata file (meta.json)',
  fix: 'It is written only by "adagrpo train"; if the folder is a run folder, restore meta.json or train the run again under a new name.',
};

export function metaFile(runDir: string): string {
  return path.join(runDir, 'meta.json');
}

export function readMeta(runDir: string): RunMeta {
  return readJsonFile(metaFile(runDir), metaSchema, KIND);
}

export function writeMeta(runDir: string, meta: RunMeta): void {
  writeJsonFile(metaFile(runDir), metaSchema, meta);
}
