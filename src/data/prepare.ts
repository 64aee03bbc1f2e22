/**
 * `data prepare`: parse the configured source (or generate the synthetic world), k-core filter,
 * index, split leave-one-out and cache the result under `<processedDir>/<name>-<hash>/`.
 * The hash covers everything the result depends on (format version, the source's config
 * section, k-core, and the sha256 of every input file), so unchanged input is never parsed twice
 * and a changed file or setting gets a new folder. Bad input throws before anything is written.
 *
 * Folder layout (written atomically with atomicDir):
 *   manifest.json   DataManifest + filter report (pretty JSON)
 *   dataset.json    ids, item text, synthetic scalars, and the table of contents of arrays.bin
 *   arrays.bin      little-endian typed arrays, each 8-byte aligned: sequences as offsets [U+1]
 *                   + items [N]; for the synthetic world also its truth and impressions
 */
import fs from 'node:fs';
import path from 'node:path';
import type { DataConfig } from '../config/schema.js';
import { UserError } from '../errors.js';
import { hashOf } from '../hash.js';
import { atomicDir, atomicWrite, atomicWriteJson } from '../io/atomic.js';
import { withLock } from '../io/lock.js';
import { kcore, logCounts } from './kcore.js';
import { readCsvSource } from './sources/csv.js';
import type { ProgressFactory } from '../progress.js';
import { checkInputFile, fileMB, sha256File } from './sources/files.js';
import { readMovielensSource } from './sources/movielens.js';
import { dropDuplicateRows, logToDataset, type SourceResult } from './sources/raw.js';
import { readSequencesJson } from './sources/sequencesJson.js';
import { readSequencesTxtSource } from './sources/sequencesTxt.js';
import { MIN_SPLIT_LENGTH, leaveOneOut, splitSizes } from './splits.js';
import { generateSyntheticWorld, impressionsFromFlat, impressionsToFlat, type SyntheticWorldTruth } from './synthetic.js';
import type { DataManifest, Dataset, Splits } from './types.js';

/**
 * Bump when parsing, filtering, indexing, the synthetic generator or the on-disk layout change:
 * it is part of the hash, so old caches are simply not found any more.
 */
export const DATA_FORMAT_VERSION = 1;

/** What filtering did to a file source (null for the synthetic world, which is never filtered). */
export interface FilterReport {
  /** data.kcore: items need >= k interactions; users need >= max(k, 3). */
  kcore: number;
  minUserInteractions: number;
  /**
   * Exact duplicate rows (same user, item and timestamp) dropped before the k-core filter; absent
   * in caches made before they were counted (sequences-json only, which cannot have them).
   */
  duplicates?: number;
  passes: number;
  before: { users: number; items: number; interactions: number };
  after: { users: number; items: number; interactions: number };
}

export interface PreparedManifest extends DataManifest {
  filter: FilterReport | null;
  /** The exact value that was hashed (minus the input checksums, listed in `inputs`). */
  key: unknown;
}

export interface PreparedData {
  dataset: Dataset;
  splits: Splits;
  manifest: PreparedManifest;
  /** The cache folder; later stages (semantic IDs) cache next to it, keyed by manifest.hash. */
  dir: string;
  /** True when loaded from the cache without parsing. */
  cached: boolean;
}

export interface PrepareOptions {
  log?: (line: string) => void;
  /** Progress of reading large inputs (the plain lines keep a cadence; see src/cli/progress.ts). */
  progress?: ProgressFactory;
  /** Rebuild even when the cache folder exists. */
  force?: boolean;
}

/** Input files of a config, with the config key that names each. */
export function inputFiles(cfg: DataConfig): { key: string; path: string }[] {
  const byKey = (...keys: [string, string | undefined][]) => keys.map(([key, p]) => ({ key, path: p }));
  const files =
    cfg.source === 'csv'
      ? byKey(['data.csv.path', cfg.csv.path], ['data.csv.itemsPath', cfg.csv.itemsPath])
      : cfg.source === 'sequences-json'
        ? byKey(['data.sequencesJson.inter', cfg.sequencesJson.inter], ['data.sequencesJson.item', cfg.sequencesJson.item])
        : cfg.source === 'sequences-txt'
          ? byKey(['data.sequencesTxt.path', cfg.sequencesTxt.path])
          : cfg.source === 'movielens'
            ? byKey(['data.movielens.ratings', cfg.movielens.ratings], ['data.movielens.movies', cfg.movielens.movies])
            : [];
  if (files[0] && !files[0].path) throw new UserError(`${files[0].key}: required when data.source is ${cfg.source}`);
  return files.filter((f): f is { key: string; path: string } => f.path !== undefined);
}

/** The source's settings that change the result (file paths excluded: their checksums count instead). */
function settingsKey(cfg: DataConfig): Record<string, unknown> {
  const ext = (p: string | undefined) => (p === undefined ? null : path.extname(p).toLowerCase());
  switch (cfg.source) {
    case 'synthetic':
      return { synthetic: cfg.synthetic };
    // `duplicates`: exact duplicate rows are dropped (buildFileDataset); caches made before that
    // kept them, so the key changes for the sources that can have them (sequences-json cannot).
    case 'csv': {
      const { path: _p, itemsPath, itemIdColumn, textColumns, ...columns } = cfg.csv;
      return { kcore: cfg.kcore, csv: columns, items: itemsPath ? { itemIdColumn, textColumns } : null, duplicates: 'dropped' };
    }
    case 'sequences-json':
      return { kcore: cfg.kcore };
    case 'sequences-txt':
      return { kcore: cfg.kcore, layout: cfg.sequencesTxt.layout, delimiter: cfg.sequencesTxt.delimiter ?? null };
    case 'movielens':
      return { kcore: cfg.kcore, minRating: cfg.movielens.minRating, ratings: ext(cfg.movielens.ratings), movies: ext(cfg.movielens.movies), duplicates: 'dropped' };
  }
}

export function dataName(cfg: DataConfig): string {
  return (cfg.name ?? cfg.source).replace(/[^A-Za-z0-9._+-]/g, '_');
}

export interface DataKey {
  hash: string;
  dir: string;
  key: unknown;
  inputs: DataManifest['inputs'];
}

/** Hash and cache folder of a config: checks and checksums the input files, parses nothing. */
export async function dataKey(cfg: DataConfig): Promise<DataKey> {
  const inputs: DataManifest['inputs'] = [];
  const sums: { key: string; sha256: string }[] = [];
  for (const f of inputFiles(cfg)) {
    const bytes = checkInputFile(f.path, f.key);
    const sha256 = await sha256File(f.path);
    inputs.push({ path: path.resolve(f.path), sha256, bytes });
    sums.push({ key: f.key, sha256 });
  }
  const key = { format: DATA_FORMAT_VERSION, source: cfg.source, ...settingsKey(cfg) };
  const hash = hashOf({ ...key, inputs: sums });
  return { hash, dir: path.join(cfg.processedDir, `${dataName(cfg)}-${hash}`), key, inputs };
}

async function readSource(cfg: DataConfig, log: (line: string) => void, progress?: ProgressFactory): Promise<SourceResult> {
  switch (cfg.source) {
    case 'csv':
      return readCsvSource(cfg.csv, progress);
    case 'sequences-json':
      if (!cfg.sequencesJson.inter) throw new UserError('data.sequencesJson.inter: required when data.source is sequences-json');
      log(`data: parsing ${cfg.sequencesJson.inter} (${fileMB(cfg.sequencesJson.inter).toFixed(1)} MB, one JSON document)`);
      return readSequencesJson(cfg.sequencesJson.inter, cfg.sequencesJson.item);
    case 'sequences-txt':
      return readSequencesTxtSource(cfg.sequencesTxt, progress);
    case 'movielens':
      log(`data: reading ${cfg.movielens.ratings} (${fileMB(cfg.movielens.ratings ?? '').toFixed(1)} MB)`);
      return readMovielensSource(cfg.movielens);
    case 'synthetic':
      throw new Error('readSource: the synthetic world has no source files');
  }
}

/** Parse, filter and index a file source (no caching). */
export async function buildFileDataset(
  cfg: DataConfig,
  log: (line: string) => void = () => {},
  progress?: ProgressFactory,
): Promise<{ dataset: Dataset; filter: FilterReport }> {
  const src = await readSource(cfg, log, progress);
  const before = logCounts(src.log);
  log(`data: read ${before.interactions} interactions (${before.users} users, ${before.items} items)`);
  const { log: unique, dropped: duplicates } = dropDuplicateRows(src.log);
  if (duplicates > 0) {
    log(
      `warning: data: dropped ${duplicates} exact duplicate row${duplicates > 1 ? 's' : ''} (same user, item and timestamp) of ` +
        `${inputFiles(cfg)[0].path}; "adagrpo data inspect" shows the count. Deduplicate the file to silence this.`,
    );
  }
  const minUser = Math.max(cfg.kcore, MIN_SPLIT_LENGTH);
  log(`data: ${cfg.kcore}-core filter (users >= ${minUser}, items >= ${cfg.kcore})...`);
  const filtered = kcore(unique, cfg.kcore, minUser);
  const after = logCounts(filtered.log);
  if (after.interactions === 0) {
    throw new UserError(
      `data.kcore: nothing survives the ${cfg.kcore}-core filter (users need >= ${minUser} interactions, items >= ${cfg.kcore}); ` +
        `lower data.kcore (0 disables it)`,
    );
  }
  log(
    `data: ${cfg.kcore}-core (users >= ${minUser}) in ${filtered.passes} pass${filtered.passes > 1 ? 'es' : ''}: ` +
      `${after.users} users, ${after.items} items, ${after.interactions} interactions`,
  );
  const dataset = logToDataset(filtered.log, { name: dataName(cfg), source: cfg.source, itemText: src.itemText });
  return { dataset, filter: { kcore: cfg.kcore, minUserInteractions: minUser, duplicates, passes: filtered.passes, before, after } };
}

/** Prepare (or load from the cache) the dataset a config describes. */
export async function prepareData(cfg: DataConfig, opts: PrepareOptions = {}): Promise<PreparedData> {
  const log = opts.log ?? (() => {});
  const t0 = performance.now();
  const k = await dataKey(cfg);
  const cached = () => {
    if (opts.force || !fs.existsSync(path.join(k.dir, 'manifest.json'))) return null;
    try {
      const p = loadPrepared(k.dir);
      log(`data: cached ${k.dir} (input unchanged, not re-parsed; loaded in ${secs(t0)} s)`);
      return p;
    } catch (e) {
      log(`data: cache ${k.dir} is unreadable (${(e as Error).message}); rebuilding`);
      return null;
    }
  };
  // The folder appears whole (atomicDir), so a hit needs no lock; a miss is built by one process
  // while the others sharing this processed-data folder wait, then load what it built.
  const hit = cached();
  if (hit) return hit;
  return withLock(k.dir, { what: `the prepared data ${k.dir}`, purpose: 'preparing data', wait: true, log }, async () => cached() ?? buildPrepared(cfg, k, t0, log, opts.progress));
}

async function buildPrepared(cfg: DataConfig, k: DataKey, t0: number, log: (line: string) => void, progress?: ProgressFactory): Promise<PreparedData> {
  log(`data: preparing ${dataName(cfg)} from ${cfg.source}${k.inputs.length ? ` (${k.inputs.map((f) => f.path).join(', ')})` : ''}`);
  let dataset: Dataset;
  let filter: FilterReport | null = null;
  if (cfg.source === 'synthetic') {
    dataset = generateSyntheticWorld(cfg.synthetic, dataName(cfg));
  } else {
    ({ dataset, filter } = await buildFileDataset(cfg, log, progress));
  }
  const splits = leaveOneOut(dataset);
  let interactions = 0;
  for (const s of dataset.sequences) interactions += s.length;
  const manifest: PreparedManifest = {
    formatVersion: DATA_FORMAT_VERSION,
    name: dataset.name,
    source: dataset.source,
    hash: k.hash,
    inputs: k.inputs,
    counts: {
      users: dataset.userIds.length,
      items: dataset.itemIds.length,
      interactions,
      ...(dataset.truth ? { impressions: dataset.truth.impressions.length } : {}),
    },
    splits: splitSizes(splits),
    createdAt: new Date().toISOString(),
    prepareSeconds: 0,
    filter,
    key: k.key,
  };
  atomicDir(k.dir, (tmp) => {
    writeDataset(tmp, dataset);
    manifest.prepareSeconds = Number(secs(t0));
    atomicWriteJson(path.join(tmp, 'manifest.json'), manifest);
  });
  log(
    `data: prepared ${dataset.name}: ${manifest.counts.users} users, ${manifest.counts.items} items, ` +
      `${interactions} interactions in ${secs(t0)} s -> ${k.dir}`,
  );
  return { dataset, splits, manifest, dir: k.dir, cached: false };
}

function secs(t0: number): string {
  return ((performance.now() - t0) / 1000).toFixed(3);
}

// ---------------------------------------------------------------- on-disk form

type Typed = Int32Array | Float32Array | Float64Array | Uint8Array;
const DTYPES = { i32: Int32Array, f32: Float32Array, f64: Float64Array, u8: Uint8Array } as const;
type Dtype = keyof typeof DTYPES;
interface ArrayEntry {
  dtype: Dtype;
  /** Byte offset in arrays.bin (multiple of 8). */
  offset: number;
  length: number;
}

function dtypeOf(a: Typed): Dtype {
  if (a instanceof Int32Array) return 'i32';
  if (a instanceof Float32Array) return 'f32';
  if (a instanceof Float64Array) return 'f64';
  return 'u8';
}

function packArrays(arrays: Record<string, Typed>): { toc: Record<string, ArrayEntry>; bytes: Uint8Array } {
  const toc: Record<string, ArrayEntry> = {};
  let size = 0;
  for (const [name, a] of Object.entries(arrays)) {
    toc[name] = { dtype: dtypeOf(a), offset: size, length: a.length };
    size += Math.ceil(a.byteLength / 8) * 8;
  }
  const bytes = new Uint8Array(size);
  for (const [name, a] of Object.entries(arrays)) bytes.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), toc[name].offset);
  return { toc, bytes };
}

function unpackArrays(buf: Buffer, toc: Record<string, ArrayEntry>, file: string): Record<string, Typed> {
  // A fresh, 8-aligned copy: Buffers from readFileSync may sit at any offset of a shared pool.
  const ab = new Uint8Array(buf.byteLength);
  ab.set(buf);
  const out: Record<string, Typed> = {};
  for (const [name, e] of Object.entries(toc)) {
    const T = DTYPES[e.dtype];
    if (!T || e.offset + e.length * T.BYTES_PER_ELEMENT > ab.byteLength) throw new Error(`${file}: array ${name} is out of bounds`);
    out[name] = new T(ab.buffer, e.offset, e.length);
  }
  return out;
}

interface DatasetFile {
  formatVersion: number;
  name: string;
  source: Dataset['source'];
  itemIds: string[];
  userIds: string[];
  itemText: string[] | null;
  truth: { dim: number; a: number; b: number; c: number; impressionSize: number } | null;
  arrays: Record<string, ArrayEntry>;
}

function writeDataset(dir: string, ds: Dataset): void {
  const U = ds.sequences.length;
  const offsets = new Int32Array(U + 1);
  for (let u = 0; u < U; u++) offsets[u + 1] = offsets[u] + ds.sequences[u].length;
  const items = new Int32Array(offsets[U]);
  ds.sequences.forEach((s, u) => items.set(s, offsets[u]));
  const arrays: Record<string, Typed> = { seqOffsets: offsets, seqItems: items };
  let truth: DatasetFile['truth'] = null;
  if (ds.truth) {
    const t = ds.truth as SyntheticWorldTruth;
    const imp = impressionsToFlat(t.impressions);
    Object.assign(arrays, {
      itemVectors: t.itemVectors,
      itemCategory: t.itemCategory,
      itemPopularity: t.itemPopularity,
      itemFresh: t.itemFresh,
      userVectors: t.userVectors,
      itemRelease: t.itemRelease,
      itemExposure: t.itemExposure,
      userStart: t.userStart,
      impUser: imp.user,
      impPosition: imp.position,
      impItems: imp.items,
      impClicks: imp.clicks,
    });
    truth = { dim: t.dim, a: t.a, b: t.b, c: t.c, impressionSize: t.impressionSize ?? imp.S };
  }
  const { toc, bytes } = packArrays(arrays);
  atomicWrite(path.join(dir, 'arrays.bin'), bytes);
  const meta: DatasetFile = {
    formatVersion: DATA_FORMAT_VERSION,
    name: ds.name,
    source: ds.source,
    itemIds: ds.itemIds,
    userIds: ds.userIds,
    itemText: ds.itemText,
    truth,
    arrays: toc,
  };
  atomicWriteJson(path.join(dir, 'dataset.json'), meta, false);
}

/** Load a prepared folder (as written by prepareData); splits are recomputed (cheap, views). */
export function loadPrepared(dir: string): PreparedData {
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as PreparedManifest;
  const metaFile = path.join(dir, 'dataset.json');
  const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8')) as DatasetFile;
  if (meta.formatVersion !== DATA_FORMAT_VERSION || manifest.formatVersion !== DATA_FORMAT_VERSION) {
    throw new UserError(`${dir}: prepared with data format ${meta.formatVersion}, this version reads ${DATA_FORMAT_VERSION}; run \`adagrpo data prepare --force\``);
  }
  const binFile = path.join(dir, 'arrays.bin');
  const a = unpackArrays(fs.readFileSync(binFile), meta.arrays, binFile);
  const offsets = a.seqOffsets as Int32Array;
  const items = a.seqItems as Int32Array;
  const sequences: Int32Array[] = [];
  for (let u = 0; u + 1 < offsets.length; u++) sequences.push(items.subarray(offsets[u], offsets[u + 1]));
  let truth: SyntheticWorldTruth | null = null;
  if (meta.truth) {
    const S = meta.truth.impressionSize;
    const impUser = a.impUser as Int32Array;
    truth = {
      dim: meta.truth.dim,
      a: meta.truth.a,
      b: meta.truth.b,
      c: meta.truth.c,
      impressionSize: S,
      itemVectors: a.itemVectors as Float32Array,
      itemCategory: a.itemCategory as Int32Array,
      itemPopularity: a.itemPopularity as Float64Array,
      itemFresh: a.itemFresh as Uint8Array,
      userVectors: a.userVectors as Float32Array,
      itemRelease: a.itemRelease as Float32Array,
      itemExposure: a.itemExposure as Float64Array,
      userStart: a.userStart as Float32Array,
      impressions: impressionsFromFlat(impUser, a.impPosition as Int32Array, a.impItems as Int32Array, a.impClicks as Uint8Array, impUser.length, S),
    };
  }
  const dataset: Dataset = {
    name: meta.name,
    source: meta.source,
    itemIds: meta.itemIds,
    userIds: meta.userIds,
    sequences,
    itemText: meta.itemText,
    truth,
  };
  return { dataset, splits: leaveOneOut(dataset), manifest, dir, cached: true };
}
