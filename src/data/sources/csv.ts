/**
 * CSV interaction logs (`user,item,timestamp`, names configurable, extra columns ignored) and an
 * optional item table with text columns, read as a stream with csv-parse. Every problem is a
 * UserError naming the file, the line and the column.
 */
import fs from 'node:fs';
import readline from 'node:readline';
import { parse, CsvError } from 'csv-parse';
import { UserError } from '../../errors.js';
import type { DataConfig } from '../../config/schema.js';
import { Transform } from 'node:stream';
import type { Progress, ProgressFactory } from '../../progress.js';
import { checkInputFile, fileMB, trackBytes, Utf8Check } from './files.js';
import { RawLogBuilder, type RawLog, type SourceResult } from './raw.js';

export interface CsvColumn {
  /** Column name in the header. */
  name: string;
  /** The config key that sets the name, for the error message. */
  key: string;
}

export interface CsvStreamOptions {
  file: string;
  /** Config key of the file (e.g. `data.csv.path`), for messages about the file itself. */
  fileKey: string;
  delimiter: string;
  required: CsvColumn[];
  /** Told the MB read so far (total: the file's size in MB). */
  progress?: Progress;
  /** Called once per data row; `line` is the 1-based line where the row ends. */
  onRow: (row: Record<string, string>, line: number) => void;
}

/** Stream the rows of a headed CSV; returns the number of data rows. */
export async function streamCsv(opts: CsvStreamOptions): Promise<number> {
  const { file } = opts;
  checkInputFile(file, opts.fileKey);
  const parser = parse({
    columns: (header: string[]) => {
      const missing = opts.required.filter((c) => !header.includes(c.name));
      if (missing.length > 0) {
        throw new UserError(
          `${file}:1: missing column${missing.length > 1 ? 's' : ''} ${missing.map((c) => `"${c.name}" (${c.key})`).join(', ')}; ` +
            `the header has: ${header.map((h) => JSON.stringify(h)).join(', ')}. Rename the column or set ${missing[0].key}.`,
        );
      }
      return header;
    },
    delimiter: opts.delimiter,
    bom: true,
    trim: true,
    skip_empty_lines: true,
    info: true,
  });
  const input = fs.createReadStream(file);
  input.on('error', (e) => parser.destroy(e));
  const utf8 = utf8Guard(file);
  utf8.on('error', (e) => parser.destroy(e));
  if (opts.progress) trackBytes(input, opts.progress);
  input.pipe(utf8).pipe(parser);
  let rows = 0;
  // Line where the last complete record ended (the header is line 1): an unclosed quote opens after it.
  let lastLine = 1;
  try {
    for await (const rec of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
      rows++;
      lastLine = rec.info.lines;
      opts.onRow(rec.record, rec.info.lines);
    }
  } catch (e) {
    if (e instanceof UserError) throw e;
    if (e instanceof CsvError && e.code === 'CSV_QUOTE_NOT_CLOSED') {
      // csv-parse reports the end of the file, where it gave up; the user needs the opening quote.
      const open = await unclosedQuoteLine(file, lastLine + 1);
      throw new UserError(
        `${file}:${open}: malformed CSV: a quoted field opens on this line and is never closed ` +
          `(the parser read to the end of the file, line ${(e as CsvError & { lines?: number }).lines}, looking for its closing quote). Close the quote or remove it.`,
      );
    }
    if (e instanceof CsvError) {
      const line = (e as CsvError & { lines?: number }).lines;
      throw new UserError(`${file}${line ? `:${line}` : ''}: malformed CSV: ${e.message}`);
    }
    throw new UserError(`${file}: cannot read: ${(e as Error).message}`);
  } finally {
    input.destroy();
    opts.progress?.stop();
  }
  if (rows === 0) throw new UserError(`${file}: no data rows (only a header, or nothing but blank lines)`);
  return rows;
}

/**
 * Passes the bytes through unchanged and fails, naming file:line, at the first byte that is not
 * UTF-8: decoding it as U+FFFD would silently merge distinct ids.
 */
function utf8Guard(file: string): Transform {
  const check = new Utf8Check();
  const bad = (what: string) =>
    new UserError(
      `${file}:${check.line}: ${what} (byte offset ${check.offset}). CSV files are read as UTF-8; ` +
        `convert the file (e.g. iconv -f latin1 -t utf-8 ${file} > fixed.csv) or fix that line.`,
    );
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      const k = check.push(chunk);
      if (k >= 0) done(bad(`byte 0x${chunk[k].toString(16).padStart(2, '0')} is not valid UTF-8`));
      else done(null, chunk);
    },
    flush(done) {
      done(check.complete ? null : bad('the file ends inside a multi-byte UTF-8 character'));
    },
  });
}

/**
 * Line of the quote that is still open at the end of the file, scanning from line `from` (the
 * first line of the record that never ended). Quotes toggle: a doubled quote ("") inside a quoted
 * field toggles twice. Only called after the parser failed, so the second read costs nothing in
 * the normal case.
 */
export async function unclosedQuoteLine(file: string, from: number): Promise<number> {
  const lines = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
  let line = 0;
  let open = false;
  let openedAt = from;
  for await (const text of lines) {
    line++;
    if (line < from) continue;
    for (let k = text.indexOf('"'); k >= 0; k = text.indexOf('"', k + 1)) {
      open = !open;
      if (open) openedAt = line;
    }
  }
  return openedAt;
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** A timestamp or rating cell: an integer or decimal, else a UserError naming file:line and column. */
export function parseNumberCell(value: string, file: string, line: number, column: string, what = 'a number'): number {
  if (!NUMBER.test(value)) {
    throw new UserError(`${file}:${line}: column "${column}": ${JSON.stringify(value)} is not ${what} (integers or decimals, e.g. 1700000000 or 12.5)`);
  }
  return Number(value);
}

function nonEmpty(value: string, file: string, line: number, column: string): string {
  if (value === '') throw new UserError(`${file}:${line}: column "${column}" is empty`);
  return value;
}

export interface CsvLogOptions {
  file: string;
  progress?: Progress;
  fileKey: string;
  delimiter: string;
  user: CsvColumn;
  item: CsvColumn;
  timestamp: CsvColumn;
  /** Keep only rows whose `column` value is >= `min` (MovieLens ratings). */
  minValue?: { column: CsvColumn; min: number };
}

/** An interaction log from a CSV: one row per interaction, input order kept for ties. */
export async function readCsvLog(o: CsvLogOptions): Promise<RawLog> {
  const b = new RawLogBuilder();
  const required = [o.user, o.item, o.timestamp, ...(o.minValue ? [o.minValue.column] : [])];
  await streamCsv({
    file: o.file,
    fileKey: o.fileKey,
    delimiter: o.delimiter,
    required,
    progress: o.progress,
    onRow: (row, line) => {
      const user = nonEmpty(row[o.user.name], o.file, line, o.user.name);
      const item = nonEmpty(row[o.item.name], o.file, line, o.item.name);
      const t = parseNumberCell(row[o.timestamp.name], o.file, line, o.timestamp.name, 'a numeric timestamp');
      if (o.minValue) {
        const v = parseNumberCell(row[o.minValue.column.name], o.file, line, o.minValue.column.name);
        if (v < o.minValue.min) return;
      }
      b.add(user, item, t);
    },
  });
  if (b.size === 0) throw new UserError(`${o.file}: no interactions left after the filter (${o.minValue?.column.key} >= ${o.minValue?.min})`);
  return b.build();
}

/** Item text from a CSV item table: the text columns' non-empty values joined by " | ". */
export async function readCsvItemText(o: {
  file: string;
  fileKey: string;
  delimiter: string;
  id: CsvColumn;
  text: CsvColumn[];
}): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  await streamCsv({
    file: o.file,
    fileKey: o.fileKey,
    delimiter: o.delimiter,
    required: [o.id, ...o.text],
    onRow: (row, line) => {
      const id = nonEmpty(row[o.id.name], o.file, line, o.id.name);
      out.set(id, o.text.map((c) => row[c.name]).filter((x) => x !== '').join(' | '));
    },
  });
  return out;
}

/** `data.source: csv`. */
export async function readCsvSource(cfg: DataConfig['csv'], progress?: ProgressFactory): Promise<SourceResult> {
  if (!cfg.path) throw new UserError('data.csv.path: required when data.source is csv');
  const log = await readCsvLog({
    file: cfg.path,
    progress: progress?.(`data: reading ${cfg.path}`, fileMB(cfg.path), 'MB'),
    fileKey: 'data.csv.path',
    delimiter: cfg.delimiter,
    user: { name: cfg.userColumn, key: 'data.csv.userColumn' },
    item: { name: cfg.itemColumn, key: 'data.csv.itemColumn' },
    timestamp: { name: cfg.timestampColumn, key: 'data.csv.timestampColumn' },
  });
  const itemText = cfg.itemsPath
    ? await readCsvItemText({
        file: cfg.itemsPath,
        fileKey: 'data.csv.itemsPath',
        delimiter: cfg.delimiter,
        id: { name: cfg.itemIdColumn, key: 'data.csv.itemIdColumn' },
        text: cfg.textColumns.map((name, k) => ({ name, key: `data.csv.textColumns.${k}` })),
      })
    : null;
  return { log, itemText };
}
