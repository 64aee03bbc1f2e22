/**
 * Plain-text sequence files, the layout many long-sequence datasets ship in (SASRec's `*.txt`,
 * RecBole-style dumps), in one of two layouts, both in time order and without timestamps:
 *
 *   user-items       one line per user: `user item item item ...`
 *   user-item-pairs  one interaction per line: `user item` (a user's lines may interleave
 *                    with other users'; their order within the file is the time order)
 *
 * Fields are separated by runs of whitespace (or by `data.sequencesTxt.delimiter`); blank lines
 * are skipped. Every problem is a UserError naming file:line, like the CSV source.
 */
import fs from 'node:fs';
import readline from 'node:readline';
import type { DataConfig } from '../../config/schema.js';
import { UserError } from '../../errors.js';
import type { Progress, ProgressFactory } from '../../progress.js';
import { checkInputFile, fileMB, trackBytes } from './files.js';
import { RawLogBuilder, type SourceResult } from './raw.js';

export type SequencesTxtLayout = 'user-items' | 'user-item-pairs';

export interface SequencesTxtOptions {
  file: string;
  layout: SequencesTxtLayout;
  /** One character; undefined = any run of spaces and tabs. */
  delimiter?: string;
  /** Config key of the file, for messages about the file itself. */
  fileKey?: string;
  /** Told the MB read so far. */
  progress?: Progress;
}

function splitter(delimiter: string | undefined): (line: string) => string[] {
  if (delimiter === undefined) return (line) => line.trim().split(/[ \t]+/);
  return (line) => line.split(delimiter).map((f) => f.trim());
}

/** Read a sequence text file into a raw log: time = position within the user's sequence. */
export async function readSequencesTxt(o: SequencesTxtOptions): Promise<SourceResult> {
  const { file, layout } = o;
  checkInputFile(file, o.fileKey ?? 'data.sequencesTxt.path');
  const split = splitter(o.delimiter);
  const b = new RawLogBuilder();
  // user -> line of its sequence (user-items) or count of its interactions so far (pairs).
  const seenAt = new Map<string, number>();
  const count = new Map<string, number>();
  const input = fs.createReadStream(file);
  if (o.progress) trackBytes(input, o.progress);
  const lines = readline.createInterface({ input, crlfDelay: Infinity });
  let lineNo = 0;
  try {
    for await (const raw of lines) {
      lineNo++;
      const line = lineNo === 1 ? raw.replace(/^\uFEFF/, '') : raw;
      if (line.trim() === '') continue;
      const fields = split(line);
      const empty = fields.findIndex((f) => f === '');
      if (empty >= 0) throw new UserError(`${file}:${lineNo}: field ${empty + 1} is empty (two delimiters in a row?)`);
      const user = fields[0];
      if (layout === 'user-items') {
        if (fields.length < 2) throw new UserError(`${file}:${lineNo}: user "${user}" has no items; a line is "user item item ..." (layout user-items)`);
        const prev = seenAt.get(user);
        if (prev !== undefined) {
          throw new UserError(
            `${file}:${lineNo}: user "${user}" already has a line (line ${prev}); with layout user-items each user has exactly one line. ` +
              `If lines are single interactions, set data.sequencesTxt.layout: user-item-pairs`,
          );
        }
        seenAt.set(user, lineNo);
        for (let j = 1; j < fields.length; j++) b.add(user, fields[j], j - 1);
      } else {
        if (fields.length !== 2) {
          throw new UserError(
            `${file}:${lineNo}: expected 2 fields "user item" (layout user-item-pairs), got ${fields.length}` +
              (fields.length > 2 ? '; if a line holds a whole sequence, set data.sequencesTxt.layout: user-items' : ''),
          );
        }
        const n = count.get(user) ?? 0;
        count.set(user, n + 1);
        b.add(user, fields[1], n);
      }
    }
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${file}: cannot read: ${(e as Error).message}`);
  } finally {
    lines.close();
    input.destroy();
    o.progress?.stop();
  }
  if (b.size === 0) throw new UserError(`${file}: no interactions (only blank lines)`);
  return { log: b.build(), itemText: null };
}

/** `data.source: sequences-txt`. */
export async function readSequencesTxtSource(cfg: DataConfig['sequencesTxt'], progress?: ProgressFactory): Promise<SourceResult> {
  if (!cfg.path) throw new UserError('data.sequencesTxt.path: required when data.source is sequences-txt');
  const bar = progress?.(`data: reading ${cfg.path}`, fileMB(cfg.path), 'MB');
  return readSequencesTxt({ file: cfg.path, layout: cfg.layout, delimiter: cfg.delimiter, progress: bar });
}
