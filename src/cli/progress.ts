/**
 * Progress of long work: a cli-progress bar on a terminal, plain log lines otherwise (CI logs,
 * pipes, --no-progress), so output stays readable either way. Library code receives a Progress
 * (or a ProgressFactory), never prints.
 *
 * Plain lines keep a regular cadence: one when the work starts, then at most one every
 * `plainEveryMs` (default 10 s), and the last one when it ends. Each line has done/total, the
 * latest fields (loss, lr, ...), the rate since the start and an ETA:
 *
 *   sft 120/300 (40%) loss 3.412 lr 0.002 tok/s 5210 | 1.6 steps/s, elapsed 1m14s, ETA 1m51s
 *
 * Numbers are printed one way everywhere (formatNumber): integers as they are, others >= 1000
 * rounded, the rest with 4 significant digits and no trailing zeros.
 */
import cliProgress from 'cli-progress';
import type { Progress, ProgressFactory, ProgressFields } from '../progress.js';

export interface ProgressOptions {
  /** Print a plain line at most every this many ms when not on a terminal (default 10,000). */
  plainEveryMs?: number;
  stream?: Pick<NodeJS.WriteStream, 'write'> & { isTTY?: boolean };
  /** Force plain lines (tests, --no-progress). */
  plain?: boolean;
  /** What is counted, for the rate: steps (default), users, MB... */
  unit?: string;
  /** Clock in ms (tests). */
  now?: () => number;
}

/** Integers as they are, others >= 1000 rounded; the rest with 4 significant digits, trailing zeros dropped. */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v) || Number.isInteger(v)) return String(v);
  if (Math.abs(v) >= 1000) return String(Math.round(v));
  return String(Number(v.toPrecision(4)));
}

/** 12s, 3m05s, 1h02m. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function formatFields(fields: ProgressFields): string {
  return Object.entries(fields)
    .map(([k, v]) => `${k} ${typeof v === 'number' ? formatNumber(v) : v}`)
    .join(' ');
}

/**
 * One plain progress line: `label done/total (pct) fields | rate unit/s, elapsed, ETA`.
 */
export function plainLine(label: string, step: number, total: number, fields: ProgressFields, o: { unit: string; elapsedS: number; rate: number }): string {
  const pct = total > 0 ? ` (${Math.floor((100 * step) / total)}%)` : '';
  const unit = o.unit === 'steps' ? '' : ` ${o.unit}`;
  const f = Object.keys(fields).length > 0 ? ` ${formatFields(fields)}` : '';
  const timing =
    o.rate > 0
      ? `${formatNumber(o.rate)} ${o.unit}/s, elapsed ${formatDuration(o.elapsedS)}${step < total ? `, ETA ${formatDuration((total - step) / o.rate)}` : ''}`
      : `elapsed ${formatDuration(o.elapsedS)}`;
  return `${label} ${formatNumber(step)}/${formatNumber(total)}${unit}${pct}${f} | ${timing}`;
}

export function createProgress(label: string, total: number, opts: ProgressOptions = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  const tty = !opts.plain && Boolean(stream.isTTY) && !process.env.CI;
  if (tty) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {value}/{total} {eta_formatted} {fields}`,
        stream: stream as NodeJS.WriteStream,
        hideCursor: true,
        clearOnComplete: false,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { fields: '' });
    let latest: ProgressFields = {};
    return {
      update: (step, fields) => {
        if (fields) latest = { ...latest, ...fields };
        bar.update(step, { fields: formatFields(latest) });
      },
      log: (line) => {
        // Clear the bar's line, print, and let the next update redraw it.
        stream.write(`\r\x1b[K${line}\n`);
      },
      stop: () => bar.stop(),
    };
  }
  const now = opts.now ?? Date.now;
  const every = opts.plainEveryMs ?? 10_000;
  const unit = opts.unit ?? 'steps';
  const start = now();
  let first: { step: number; at: number } | null = null;
  let lastPrintAt = start;
  let printed = -1;
  let current = 0;
  let latest: ProgressFields = {};
  let stopped = false;
  let updates = 0;
  const print = () => {
    const at = now();
    // The rate counts from the first update (a resumed stage starts past 0); with a single update
    // so far (one eval batch), from the start at 0.
    const base = first && updates > 1 ? first : { step: 0, at: start };
    const span = (at - base.at) / 1000;
    const rate = span > 0 ? (current - base.step) / span : 0;
    stream.write(plainLine(label, current, total, latest, { unit, elapsedS: (at - start) / 1000, rate }) + '\n');
    lastPrintAt = at;
    printed = current;
  };
  stream.write(`${label}: started (${formatNumber(total)} ${unit})\n`);
  return {
    update: (step, fields) => {
      if (fields) latest = { ...latest, ...fields };
      if (first === null) first = { step, at: now() };
      updates++;
      current = step;
      if ((step === total || now() - lastPrintAt >= every) && step !== printed) print();
    },
    log: (line) => stream.write(line + '\n'),
    stop: () => {
      if (stopped) return;
      stopped = true;
      if (current !== printed && first !== null) print();
    },
  };
}

/** The factory the commands hand to library code: bars on a terminal unless `plain`. */
export function progressFactory(o: { plain: boolean; everyMs?: number }): ProgressFactory {
  return (label, total, unit) => createProgress(label, total, { plain: o.plain, plainEveryMs: o.everyMs, unit });
}
