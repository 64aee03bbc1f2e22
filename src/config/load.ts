/**
 * Build the one frozen Config: defaults + YAML file (and the files its `extends` chain names) + `--set`
 * overrides, validated once with every problem reported together, each with its dot path and,
 * where it came from a file, the file and line.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML, { LineCounter, isMap, isNode, type Document } from 'yaml';
import { UserError } from '../errors.js';
import { PATH_KEYS, configSchema, crossFieldIssues, type Config } from './schema.js';

type Raw = Record<string, unknown>;

interface Source {
  file: string;
  doc: Document.Parsed;
  lines: LineCounter;
}

function isPlainObject(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Keys that would reach an object's prototype when assigned (`obj['__proto__'] = v` replaces the
 * prototype). No config key has these names, so they are refused before any merge or assignment.
 */
const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Dot path of the first reserved key anywhere in `v`, or null. */
function reservedKeyPath(v: unknown, at: string[] = []): string[] | null {
  if (typeof v !== 'object' || v === null) return null;
  for (const k of Object.keys(v)) {
    if (RESERVED_KEYS.has(k)) return [...at, k];
    const inner = reservedKeyPath((v as Raw)[k], [...at, k]);
    if (inner) return inner;
  }
  return null;
}

/** `via`: how the file was reached, e.g. `"extends" in child.yaml`, for the not-found message. */
function readYaml(file: string, via?: string): { raw: Raw; source: Source } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const from = via ? ` (named by ${via})` : '';
    throw new UserError(
      code === 'ENOENT'
        ? `config file not found: ${file}${from}${via ? '; fix the path (it is relative to the file that names it)' : ''}`
        : `cannot read config file ${file}${from}: ${(e as Error).message}`,
    );
  }
  const lines = new LineCounter();
  const doc = YAML.parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const msgs = doc.errors.map((err) => {
      const at = lines.linePos(err.pos[0]);
      return `  ${file}:${at.line}:${at.col}: ${err.message.split('\n')[0]}`;
    });
    throw new UserError(`malformed YAML in ${file}:\n${msgs.join('\n')}\nFix the syntax at the line shown.`);
  }
  const raw = doc.toJS() ?? {};
  if (!isPlainObject(raw)) throw new UserError(`${file}: the top level of a config must be a mapping of keys (got ${typeof raw})`);
  const reserved = reservedKeyPath(raw);
  if (reserved) {
    const parent = reserved.length > 1 ? doc.getIn(reserved.slice(0, -1), true) : doc.contents;
    const key = isMap(parent) ? parent.items.find((p) => isNode(p.key) && (p.key as { value?: unknown }).value === reserved.at(-1))?.key : undefined;
    const at = isNode(key) && key.range ? `:${lines.linePos(key.range[0]).line}` : '';
    throw new UserError(`${file}${at}: ${reserved.join('.')}: "${reserved.at(-1)}" is a reserved name, not a config key; remove it`);
  }
  return { raw, source: { file, doc, lines } };
}

/**
 * Relative paths of a config file name files beside it, wherever the command runs: every key of
 * PATH_KEYS that the file sets is made absolute against the file's own folder (the base file's
 * folder for keys that come from `extends`). `--set` values are not touched: they stay relative
 * to the working directory, like every other command-line path.
 */
export function resolveFilePaths(raw: Raw, file: string): Raw {
  const dir = path.dirname(path.resolve(file));
  for (const key of PATH_KEYS) {
    const keys = key.split('.');
    let parent: unknown = raw;
    for (const k of keys.slice(0, -1)) parent = isPlainObject(parent) ? parent[k] : undefined;
    if (!isPlainObject(parent)) continue;
    const leaf = keys[keys.length - 1];
    const v = parent[leaf];
    if (typeof v === 'string' && v !== '' && !path.isAbsolute(v)) parent[leaf] = path.resolve(dir, v);
  }
  return raw;
}

/** Objects merge key by key; arrays and scalars from `over` replace those in `base`. */
export function deepMerge(base: Raw, over: Raw): Raw {
  const out: Raw = { ...base };
  for (const [k, v] of Object.entries(over)) {
    out[k] = isPlainObject(v) && isPlainObject(out[k]) ? deepMerge(out[k] as Raw, v) : v;
  }
  return out;
}

/** Parse `a.b.c=value`; the value is read as YAML so numbers, booleans and lists keep their type. */
export function parseSet(expr: string): { path: string[]; value: unknown } {
  const eq = expr.indexOf('=');
  if (eq <= 0) throw new UserError(`--set expects key.path=value, got "${expr}"`);
  const key = expr.slice(0, eq).trim();
  const path = key.split('.');
  if (path.some((p) => p === '')) throw new UserError(`--set key "${key}" has an empty segment`);
  const reserved = path.find((p) => RESERVED_KEYS.has(p));
  if (reserved) throw new UserError(`--set ${key}: "${reserved}" is a reserved name, not a config key; see docs/CONFIG.md for the keys`);
  const text = expr.slice(eq + 1);
  let value: unknown;
  try {
    value = text === '' ? '' : YAML.parse(text);
  } catch {
    value = text;
  }
  const inner = reservedKeyPath(value, path);
  if (inner) throw new UserError(`--set ${key}: ${inner.join('.')}: "${inner.at(-1)}" is a reserved name, not a config key`);
  return { path, value };
}

function setIn(obj: Raw, keys: string[], value: unknown): void {
  let cur = obj;
  for (const k of keys.slice(0, -1)) {
    if (!isPlainObject(cur[k])) cur[k] = {};
    cur = cur[k] as Raw;
  }
  cur[keys[keys.length - 1]] = value;
}

function where(sources: Source[], keyPath: (string | number)[], setPaths: Set<string>): string {
  const dot = keyPath.join('.');
  if ([...setPaths].some((s) => s === dot || s.startsWith(dot + '.'))) return ' (from --set)';
  // Later sources override earlier ones: report the last file that has the key.
  for (const s of [...sources].reverse()) {
    for (let n = keyPath.length; n > 0; n--) {
      const node = s.doc.getIn(keyPath.slice(0, n), true);
      if (isNode(node) && node.range) {
        const { line } = s.lines.linePos(node.range[0]);
        return ` (${s.file}:${line})`;
      }
      // For unknown keys the key itself exists in its parent map: find it there.
      const parent = n > 1 ? s.doc.getIn(keyPath.slice(0, n - 1), true) : s.doc.contents;
      if (isMap(parent)) {
        const pair = parent.items.find((p) => isNode(p.key) && (p.key as { value?: unknown }).value === keyPath[n - 1]);
        if (pair && isNode(pair.key) && pair.key.range) return ` (${s.file}:${s.lines.linePos(pair.key.range[0]).line})`;
      }
    }
  }
  return '';
}

export interface LoadOptions {
  /** `--set` expressions, applied after the file. */
  sets?: string[];
  /** Flags that map onto config keys (e.g. `--backend`), applied last. */
  overrides?: Record<string, unknown>;
}

export function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v as object)) deepFreeze(x);
  }
  return v;
}

/** Validate a raw object (already merged) into the frozen Config. */
export function validateConfig(raw: unknown, sources: Source[] = [], setPaths = new Set<string>(), label = 'config'): Config {
  const parsed = configSchema.safeParse(raw);
  const problems: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const p = issue.path.map(String);
      if (issue.code === 'unrecognized_keys') {
        for (const k of issue.keys) {
          const full = [...p, k];
          problems.push(`  ${full.join('.')}: unknown key${where(sources, full, setPaths)}`);
        }
      } else {
        const dot = p.join('.') || '(top level)';
        problems.push(`  ${dot}: ${issue.message}${where(sources, p, setPaths)}`);
      }
    }
  } else {
    for (const i of crossFieldIssues(parsed.data)) {
      problems.push(`  ${i.path}: ${i.message}${where(sources, i.path.split('.'), setPaths)}`);
    }
  }
  if (problems.length > 0) {
    throw new UserError(
      `invalid ${label}: ${problems.length} problem${problems.length > 1 ? 's' : ''}:\n${problems.join('\n')}\n` +
        `Every key, its default and meaning: docs/CONFIG.md; the resolved config: add --dry-run.`,
    );
  }
  return deepFreeze(parsed.data!);
}

/** Longest `extends` chain followed: deeper is almost surely a mistake, and the message says so. */
const MAX_EXTENDS_DEPTH = 8;

/**
 * `file` and the files its `extends` names, base-most first, each with its relative paths already
 * made absolute against its own folder. A file may extend one that extends another (a study config
 * over its SFT recipe over the dataset's config); a cycle or a chain deeper than MAX_EXTENDS_DEPTH
 * is a user error that lists the chain.
 */
function extendsChain(file: string): { raw: Raw; source: Source }[] {
  const chain: { raw: Raw; source: Source }[] = [];
  const seen: string[] = [];
  let current = file;
  let via: string | undefined;
  for (;;) {
    const abs = path.resolve(current);
    if (seen.includes(abs)) {
      throw new UserError(`"extends" forms a cycle: ${[...seen, abs].join(' -> ')}; remove one of these "extends"`);
    }
    if (seen.length === MAX_EXTENDS_DEPTH) {
      throw new UserError(`"extends" chain deeper than ${MAX_EXTENDS_DEPTH} files: ${seen.join(' -> ')} -> ...; inline some bases`);
    }
    seen.push(abs);
    const layer = readYaml(current, via);
    const ext = layer.raw.extends;
    delete layer.raw.extends;
    resolveFilePaths(layer.raw, current);
    chain.unshift(layer);
    if (ext === undefined) return chain;
    if (typeof ext !== 'string' || ext === '') throw new UserError(`${current}: "extends" must be a path to another YAML file`);
    via = `"extends" in ${current}`;
    current = path.resolve(path.dirname(current), ext);
  }
}

/**
 * Load a config file. Relative paths inside it (data files, sid.file, runsDir, ...: PATH_KEYS)
 * resolve against the folder of the file that sets them, so a config works from any working
 * directory; paths given with `--set` resolve against the working directory.
 */
export function loadConfig(file: string | undefined, opts: LoadOptions = {}): Config {
  const sources: Source[] = [];
  let raw: Raw = {};
  if (file) {
    for (const layer of extendsChain(file)) {
      sources.push(layer.source);
      raw = deepMerge(raw, layer.raw);
    }
  }
  const setPaths = new Set<string>();
  for (const s of opts.sets ?? []) {
    const { path: keys, value } = parseSet(s);
    setIn(raw, keys, value);
    setPaths.add(keys.join('.'));
  }
  for (const [k, v] of Object.entries(opts.overrides ?? {})) {
    if (v !== undefined) {
      setIn(raw, k.split('.'), v);
      setPaths.add(k);
    }
  }
  return validateConfig(raw, sources, setPaths, file ? `config ${file}` : 'config');
}

/**
 * What the --backend and --threads flags override. --threads goes in as a number when it reads as
 * one, so that the schema's range check reports it like any other value.
 */
export function configOverrides(flags: { backend?: string; threads?: string }): Record<string, unknown> {
  const t = flags.threads;
  const threads = t !== undefined && t.trim() !== '' && Number.isFinite(Number(t)) ? Number(t) : t;
  return { backend: flags.backend, threads };
}

/** The resolved config as YAML: what `config.yaml` in a run folder holds and `--dry-run` prints. */
export function configToYaml(c: Config): string {
  return YAML.stringify(c, { lineWidth: 0 });
}
