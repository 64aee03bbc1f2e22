/**
 * upstream.json of a run folder (docs/METHOD.md 4): the hashes of the data, semantic IDs and the
 * shared sft and ranker stages the run stands on. `report` checks that compared runs share them;
 * `eval` and `stratify` check that the data a run is evaluated on is still the data it was
 * trained on. This module is its only reader and writer.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { UserError } from '../errors.js';
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

/**
 * A UserError unless the data (and semantic IDs, when given) a command has just keyed or prepared
 * are those the run was trained on, as upstream.json records them. Without this, `eval` on a run
 * whose data file was edited scores it on other data and overwrites its results. A run folder
 * without upstream.json (it never got past the data stage) has nothing to check.
 */
export function assertTrainedOn(runDir: string, now: { data: string; sid?: string }, command: string): void {
  const rec = readUpstream(runDir);
  const problems: string[] = [];
  if (rec.data !== undefined && rec.data !== now.data) problems.push(`data hash ${rec.data} in ${upstreamFile(runDir)}, but the data files now hash to ${now.data}`);
  else if (rec.sid !== undefined && now.sid !== undefined && rec.sid !== now.sid) {
    problems.push(`semantic-ID hash ${rec.sid} in ${upstreamFile(runDir)}, but the semantic IDs now hash to ${now.sid}`);
  }
  if (problems.length === 0) return;
  throw new UserError(
    `${command}: ${runDir} was trained on other data than its config now gives: ${problems.join('; ')}. ` +
      `Its results would come from other data than it learned from. Restore the input files its config.yaml names ` +
      `(or the semantic-ID file), or train a new run on the new data.`,
  );
}
