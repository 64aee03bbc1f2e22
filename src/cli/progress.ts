/**
 * Progress of long work: a cli-progress bar on a terminal, plain log lines otherwise (CI logs,
 * pipes), so output stays readable either way. Library code receives a Progress, never prints.
 */
import cliProgress from 'cli-progress';

import type { Progress, ProgressFields } from '../progress.js';

export interface ProgressOptions {
  /** Print a plain line at most every this many ms when not on a terminal. */
  plainEveryMs?: number;
  stream?: NodeJS.WriteStream;
  /** Force plain lines (tests, --no-progress). */
  plain?: boolean;
}

function fmt(v: number | string): string {
  if (typeof v === 'string') return v;
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1000) return v.toFixed(0);
  if (a >= 1) return v.toFixed(3);
  if (a >= 1e-3) return v.toFixed(4);
  return v.toExponential(2);
}

export function formatFields(fields: ProgressFields): string {
  return Object.entries(fields)
    .map(([k, v]) => `${k}=${fmt(v)}`)
    .join(' ');
}

export function createProgress(label: string, total: number, opts: ProgressOptions = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  const tty = !opts.plain && Boolean(stream.isTTY) && !process.env.CI;
  if (tty) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {value}/{total} {eta_formatted} {fields}`,
        stream,
        hideCursor: true,
        clearOnComplete: false,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { fields: '' });
    return {
      update: (step, fields) => bar.update(step, { fields: fields ? formatFields(fields) : '' }),
      log: (line) => {
        // Clear the bar's line, print, and let the next update redraw it.
        stream.write(`\r\x1b[K${line}\n`);
      },
      stop: () => bar.stop(),
    };
  }
  const every = opts.plainEveryMs ?? 10_000;
  let last = 0;
  let lastStep = -1;
  const start = Date.now();
  const print = (step: number, fields?: ProgressFields) => {
    const secs = (Date.now() - start) / 1000;
    stream.write(`${label} ${step}/${total} (${secs.toFixed(0)}s) ${fields ? formatFields(fields) : ''}\n`);
  };
  return {
    update: (step, fields) => {
      const now = Date.now();
      if (now - last >= every || step === total) {
        if (step !== lastStep) print(step, fields);
        last = now;
        lastStep = step;
      }
    },
    log: (line) => stream.write(line + '\n'),
    stop: () => {},
  };
}

