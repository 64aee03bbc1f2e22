/**
 * The two table formats the tool writes for people and spreadsheets: Markdown (reports, stratified
 * tables) and CSV (RFC 4180, via csv-stringify, the writing half of the csv-parse the data sources
 * read with). Every table of the project goes through here.
 */
import { stringify } from 'csv-stringify/sync';

export type Cell = string | number | undefined;

export interface MarkdownOptions {
  /** Right-align these columns (numbers); the rule row marks them with `:`. */
  right?: readonly boolean[];
  /** Pad cells to column width, so the source reads as a table too (default true). */
  pad?: boolean;
}

/** A Markdown table; `|` inside a cell is escaped. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[], o: MarkdownOptions = {}): string {
  const right = o.right ?? [];
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const all = [header, ...rows].map((r) => r.map(esc));
  if (o.pad === false) {
    const rule = `|${header.map((_, c) => (right[c] ? '---:' : '---')).join('|')}|`;
    return [`| ${all[0].join(' | ')} |`, rule, ...all.slice(1).map((r) => `| ${r.join(' | ')} |`)].join('\n');
  }
  const w = header.map((_, c) => Math.max(3, ...all.map((r) => r[c].length)));
  const line = (r: readonly string[]) => `| ${r.map((s, c) => (right[c] ? s.padStart(w[c]) : s.padEnd(w[c]))).join(' | ')} |`;
  const rule = `|${w.map((n, c) => (right[c] ? '-'.repeat(n + 1) + ':' : '-'.repeat(n + 2))).join('|')}|`;
  return [line(all[0]), rule, ...all.slice(1).map(line)].join('\n');
}

/** A CSV number: empty for NaN, ±Inf or a missing value (a spreadsheet's empty cell, not "NaN"). */
function csvValue(v: Cell): string {
  if (v === undefined) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  return v;
}

/** CSV text, header first, one line per row, '\n' after each. */
export function toCsv(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  return stringify([header.slice(), ...rows.map((r) => r.map(csvValue))], { record_delimiter: '\n' });
}

/** One CSV field as it appears in a line (quoted when it holds a comma, quote or line break). */
export function csvField(v: Cell): string {
  return stringify([[csvValue(v)]], { record_delimiter: '' });
}
