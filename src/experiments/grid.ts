/**
 * Sweep grids: `--grid key=v1,v2,...` axes × `--seeds` expanded into one run per combination,
 * each with a readable, folder-safe run name built from its grid values. Pure functions.
 */
import YAML from 'yaml';
import { UserError } from '../errors.js';

export interface GridAxis {
  /** Dot path of a config key, e.g. `rl.lambda`. */
  key: string;
  /** Each value as written on the command line: what `--set key=<text>` receives and names use. */
  texts: string[];
}

export interface Combination {
  seed: number;
  /** Grid key → value text as written, in axis order (`rl.algorithm` → `adagrpo`). */
  grid: Record<string, string>;
  /** Run name: `<prefix>` then `-<key>_<value>` per axis, folder-safe. The run folder adds `_s<seed>`. */
  name: string;
  /** `--set` expressions for this combination: grid values, then name and seed. */
  sets: string[];
}

/** Keys a sweep sets itself (name, seed) or that must not vary within one (where runs live). */
const RESERVED = new Set(['name', 'seed', 'runsDir']);

/** Split at commas that are not inside [...], {...} or quotes, so `eval.ks=[1,5],[1,10]` has two values. */
export function splitTopLevel(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let cur = '';
  for (const ch of text) {
    if (quote) {
      if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '[' || ch === '{') depth++;
    else if (ch === ']' || ch === '}') depth--;
    else if (ch === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
      continue;
    }
    cur += ch;
  }
  out.push(cur.trim());
  return out;
}

/** Parse one `--grid key=v1,v2` flag. */
export function parseGridFlag(expr: string): GridAxis {
  const eq = expr.indexOf('=');
  if (eq <= 0) throw new UserError(`--grid expects key.path=value1,value2,..., got "${expr}"`);
  const key = expr.slice(0, eq).trim();
  if (key.split('.').some((p) => p === '')) throw new UserError(`--grid key "${key}" has an empty segment`);
  if (RESERVED.has(key)) {
    throw new UserError(
      key === 'seed' ? '--grid seed=...: give seeds with --seeds 1,2,3' : `--grid ${key}=...: a sweep sets "${key}" itself; it cannot be a grid axis`,
    );
  }
  const texts = splitTopLevel(expr.slice(eq + 1));
  if (texts.some((t) => t === '')) throw new UserError(`--grid ${key}: empty value in "${expr.slice(eq + 1)}"`);
  // Values are compared as parsed YAML, so "0.30" and "0.3" count as the same value.
  const seen = new Map<string, string>();
  for (const t of texts) {
    const k = JSON.stringify(parseValue(t));
    if (seen.has(k)) throw new UserError(`--grid ${key}: value "${t}" repeats "${seen.get(k)}"`);
    seen.set(k, t);
  }
  return { key, texts };
}

/** A value text read as YAML (as `--set` reads it): numbers, booleans and lists keep their type. */
export function parseValue(text: string): unknown {
  try {
    return YAML.parse(text);
  } catch {
    return text;
  }
}

/** `1,2,3` or a range `1-5` (or both: `1-3,7`): distinct non-negative integers, in the order given. */
export function parseSeeds(text: string): number[] {
  const seeds: number[] = [];
  for (const part of text.split(',').map((p) => p.trim())) {
    const range = /^(\d+)-(\d+)$/.exec(part);
    if (range) {
      const [a, b] = [Number(range[1]), Number(range[2])];
      if (b < a) throw new UserError(`--seeds: range "${part}" runs backwards`);
      for (let s = a; s <= b; s++) seeds.push(s);
    } else if (/^\d+$/.test(part)) seeds.push(Number(part));
    else throw new UserError(`--seeds expects integers like 1,2,3 or 1-5; got "${part}"`);
  }
  if (seeds.length === 0) throw new UserError('--seeds: no seed given');
  const dup = seeds.find((s, i) => seeds.indexOf(s) !== i);
  if (dup !== undefined) throw new UserError(`--seeds: seed ${dup} is given twice`);
  if (seeds.some((s) => s > 2 ** 31 - 1)) throw new UserError('--seeds: seeds must be < 2^31');
  return seeds;
}

/** Run names may hold letters, digits and . _ + - (the config's rule for `name`); anything else becomes `_`. */
export function folderSafe(text: string): string {
  return text.replace(/[^A-Za-z0-9._+-]/g, '_');
}

/** `<prefix>-<key>_<value>-...` in axis order; the prefix alone for an empty grid. */
export function combinationName(prefix: string, grid: Record<string, string>): string {
  return folderSafe([prefix, ...Object.entries(grid).map(([k, v]) => `${k}_${v}`)].join('-'));
}

/** Replace `{seed}` in a set expression (e.g. rl.randomGate.matchRun=runs/x_s{seed}) by the run's seed. */
export function withSeed(expr: string, seed: number): string {
  return expr.split('{seed}').join(String(seed));
}

/**
 * Every combination: seeds outermost (after the first seed every configuration has one run, so a
 * first comparison exists early; more seeds then tighten the intervals), then the axes as given,
 * the first axis outermost. A random-gate run matched to an AdaGRPO run of the same seed therefore
 * runs after it when its axis value comes after adagrpo's.
 */
export function expandGrid(axes: readonly GridAxis[], seeds: readonly number[], prefix: string): Combination[] {
  const keys = axes.map((a) => a.key);
  const dup = keys.find((k, i) => keys.indexOf(k) !== i);
  if (dup !== undefined) throw new UserError(`--grid ${dup} is given twice; list all its values in one flag`);
  let cells: Record<string, string>[] = [{}];
  for (const axis of axes) cells = cells.flatMap((c) => axis.texts.map((t) => ({ ...c, [axis.key]: t })));
  const out: Combination[] = [];
  for (const seed of seeds) {
    for (const grid of cells) {
      const name = combinationName(prefix, grid);
      out.push({
        seed,
        grid,
        name,
        sets: [...Object.entries(grid).map(([k, v]) => withSeed(`${k}=${v}`, seed)), `name=${name}`, `seed=${seed}`],
      });
    }
  }
  const names = new Map<string, Record<string, string>>();
  for (const c of out.filter((c) => c.seed === seeds[0])) {
    const other = names.get(c.name);
    if (other) {
      throw new UserError(
        `two grid cells get the same run name "${c.name}" once made folder-safe (${JSON.stringify(other)} and ${JSON.stringify(c.grid)}); ` +
          `write the values so that they differ in letters, digits or . _ + -`,
      );
    }
    names.set(c.name, c.grid);
  }
  return out;
}
