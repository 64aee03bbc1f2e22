/**
 * upstream.json of a run folder (docs/METHOD.md 4): the hashes of the data, semantic IDs and the
 * shared sft and ranker stages the run stands on. `report` checks that compared runs share them;
 * `eval` and `stratify` check that the data a run is evaluated on is still the data it was
 * trained on. This module is its only reader and writer.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { readJsonFile, writeJsonFile } from '../io/json.js';

const upstreamSchema = z.object({ data: z.string(), sid: z.string(), sft: z.string().optional(), ranker: z.string().optional() });
export type Upstream = Partial<z.infer<typeof upstreamSchema>>;

export function upstreamFile(runDir: string): string {
  return path.join(runDir, 'upstream.json');
}

/** What a run records (empty for a run folder that predates upstream.json or never got past data). */
export function readUpstream(runDir: string): Upstream {
  const file = upstreamFile(runDir);
  if (!fs.existsSync(file)) return {};
  return readJsonFile(file, upstreamSchema, {
    what: 'upstream record (upstream.json)',
    fix: 'It is written only by "adagrpo train"; resume the run (--resume) to write it again.',
  });
}

export function writeUpstream(runDir: string, u: z.infer<typeof upstreamSchema>): void {
  writeJsonFile(upstreamFile(runDir), upstreamSchema, u);
}
