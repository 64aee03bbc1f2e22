/**
 * Semantic IDs for a prepared dataset (docs/METHOD.md 2.1), cached next to the prepared data under
 * `<cacheDir>/sid-<hash>/`, keyed by the data hash and the sid settings that change the result,
 * so every run of a sweep shares one set of IDs and pays only a load.
 *
 * Cache folder: `sid.json` (key, shapes, stats), `codes.i32` ([I*L] little-endian int32) and
 * `index.json` (the same IDs in the LC-Rec/LETTER format, reusable with `sid.method: file`).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ProgressFactory } from '../../progress.js';
import type { SidConfig } from '../../config/schema.js';
import { UserError } from '../../errors.js';
import { hashOf } from '../../hash.js';
import { atomicDir, atomicWriteJson } from '../../io/atomic.js';
import { withLock } from '../../io/lock.js';
import { Rng } from '../../rng.js';
import type { Dataset, Splits } from '../types.js';
import { embedCf, embedText, latentEmbeddings } from './embeddings.js';
import { loadSidFile } from './file.js';
import { dedup, residualKMeans, type ResidualKMeansResult } from './rqkmeans.js';
import { AUTO_CODEBOOK_SIZES, candidateSizes, chooseCodebookSize, codebookSweep, formatCandidates, type CodebookCandidate } from './sizing.js';
import type { SemanticIds, SidStats } from './types.js';

/** Bump when the cached layout or the algorithm's output changes, so old caches are not reused. */
export const SID_FORMAT_VERSION = 1;

export interface BuildSidInput {
  dataset: Dataset;
  splits: Splits;
  /** Hash of the prepared data (manifest.hash). */
  dataHash: string;
  /** The prepared data's folder; the IDs go in a `sid-<hash>` subfolder. */
  cacheDir: string;
}

export interface BuiltSids {
  sids: SemanticIds;
  cached: boolean;
  dir: string;
  /** Identifies these IDs (data hash + the settings the method reads): the folder's suffix. */
  hash: string;
}

interface SidMeta {
  formatVersion: number;
  key: unknown;
  numItems: number;
  levels: number;
  codebookSizes: number[];
  codesSha256: string;
  stats: SidStats;
  createdAt: string;
  buildSeconds: number;
}

function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** What the IDs depend on: only the settings the chosen method reads, so unrelated edits keep the cache. */
function cacheKey(cfg: SidConfig, dataHash: string): Record<string, unknown> {
  if (cfg.method === 'file') {
    const file = requireFile(cfg);
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(file);
    } catch {
      // loadSidFile reports the missing file properly; key it by path meanwhile.
      return { formatVersion: SID_FORMAT_VERSION, dataHash, method: 'file', file };
    }
    return { formatVersion: SID_FORMAT_VERSION, dataHash, method: 'file', fileSha256: sha256(bytes) };
  }
  return {
    formatVersion: SID_FORMAT_VERSION,
    dataHash,
    method: cfg.method,
    embedding: cfg.embedding,
    levels: cfg.levels,
    codebookSize: cfg.codebookSize,
    // Only for auto, so fixed-size IDs keep the cache keys they had before the key existed.
    ...(cfg.codebookSize === 'auto' ? { collisionTarget: cfg.collisionTarget } : {}),
    kmeansIters: cfg.kmeansIters,
    embeddingDim: cfg.embedding === 'latent' ? undefined : cfg.embeddingDim,
    seed: cfg.seed,
  };
}

function requireFile(cfg: SidConfig): string {
  if (!cfg.file) throw new UserError('sid.file is required when sid.method is file: give the path of a *.index.json');
  return cfg.file;
}

/** LC-Rec token of level l code c: `<a_12>`. */
export function sidToken(level: number, code: number): string {
  return `<${String.fromCharCode(97 + level)}_${code}>`;
}

function writeCache(dir: string, key: unknown, sids: SemanticIds, itemIds: string[], buildSeconds: number): void {
  const le = new Uint8Array(sids.codes.length * 4); // little-endian whatever the host
  const view = new DataView(le.buffer);
  for (let i = 0; i < sids.codes.length; i++) view.setInt32(i * 4, sids.codes[i], true);
  atomicDir(dir, (tmp) => {
    fs.writeFileSync(path.join(tmp, 'codes.i32'), le);
    const index: Record<string, string[]> = {};
    const L = sids.levels;
    itemIds.forEach((id, i) => {
      index[id] = Array.from(sids.codes.subarray(i * L, (i + 1) * L), (c, l) => sidToken(l, c));
    });
    fs.writeFileSync(path.join(tmp, 'index.json'), JSON.stringify(index) + '\n');
    const meta: SidMeta = {
      formatVersion: SID_FORMAT_VERSION,
      key,
      numItems: itemIds.length,
      levels: sids.levels,
      codebookSizes: sids.codebookSizes,
      codesSha256: sha256(le),
      stats: sids.stats,
      createdAt: new Date().toISOString(),
      buildSeconds,
    };
    // Written last: a folder with sid.json is complete (atomicDir makes it so anyway).
    atomicWriteJson(path.join(tmp, 'sid.json'), meta);
  });
}

/** The cached IDs, or null (with the reason logged) when the folder is missing or unusable. */
function readCache(dir: string, numItems: number, log: (line: string) => void): SemanticIds | null {
  const metaFile = path.join(dir, 'sid.json');
  if (!fs.existsSync(metaFile)) return null;
  try {
    const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8')) as SidMeta;
    const le = fs.readFileSync(path.join(dir, 'codes.i32'));
    if (meta.formatVersion !== SID_FORMAT_VERSION) throw new Error(`format version ${meta.formatVersion}`);
    if (meta.numItems !== numItems) throw new Error(`${meta.numItems} items, dataset has ${numItems}`);
    if (le.length !== numItems * meta.levels * 4) throw new Error(`codes.i32 has ${le.length} bytes`);
    if (sha256(le) !== meta.codesSha256) throw new Error('codes.i32 checksum mismatch');
    const view = new DataView(le.buffer, le.byteOffset, le.byteLength);
    const codes = new Int32Array(numItems * meta.levels);
    for (let i = 0; i < codes.length; i++) codes[i] = view.getInt32(i * 4, true);
    return { levels: meta.levels, codebookSizes: meta.codebookSizes, codes, stats: meta.stats };
  } catch (e) {
    log(`semantic IDs: cache ${dir} unusable (${(e as Error).message}); rebuilding`);
    return null;
  }
}

/** Item embeddings for rq-kmeans: [I*d]. */
function embeddingsFor(cfg: SidConfig, input: BuildSidInput, rng: Rng, log: (line: string) => void): { x: Float32Array; d: number } {
  const { dataset, splits } = input;
  const n = dataset.itemIds.length;
  const t0 = Date.now();
  if (cfg.embedding !== 'latent') log(`semantic IDs: ${cfg.embedding} embeddings of ${n} items (SVD to d=${cfg.embeddingDim})...`);
  switch (cfg.embedding) {
    case 'cf': {
      const e = embedCf(splits.train, n, cfg.embeddingDim, rng);
      log(
        `semantic IDs: cf embeddings (PPMI + SVD, d=${e.dim}) in ${((Date.now() - t0) / 1000).toFixed(1)} s; ` +
          `${e.coldItems} of ${n} items have no training co-occurrence (random directions)`,
      );
      return { x: e.vectors, d: e.dim };
    }
    case 'text': {
      if (!dataset.itemText)
        throw new UserError(
          `sid.embedding is "text" but dataset "${dataset.name}" has no item text; ` +
            `give an item file (data.sequencesJson.item, data.csv.itemsPath, data.movielens.movies) or set sid.embedding: cf`,
        );
      const e = embedText(dataset.itemText, cfg.embeddingDim, rng);
      log(
        `semantic IDs: text embeddings (TF-IDF + SVD, d=${e.dim}) in ${((Date.now() - t0) / 1000).toFixed(1)} s; ` +
          `${e.coldItems} of ${n} items have no kept term (random directions)`,
      );
      return { x: e.vectors, d: e.dim };
    }
    case 'latent': {
      if (!dataset.truth)
        throw new UserError(
          `sid.embedding is "latent" but dataset "${dataset.name}" is not the synthetic world (it has no true item vectors); set sid.embedding: cf or text`,
        );
      return { x: latentEmbeddings(dataset.truth), d: dataset.truth.dim };
    }
  }
}

/** The stream residual k-means draws from: the same for a fixed size and for each auto candidate. */
function kmeansRng(seed: number): Rng {
  const rng = new Rng(seed);
  rng.fork('embedding');
  return rng.fork('kmeans');
}

/**
 * Collision rate and codebook usage of residual k-means at each of `sizes` (capped by the
 * catalog) over the configured embeddings: what `data inspect` prints to choose sid.codebookSize.
 */
export function codebookCandidates(cfg: SidConfig, input: BuildSidInput, sizes: readonly number[], log: (line: string) => void = () => {}, progress?: ProgressFactory): CodebookCandidate[] {
  const n = input.dataset.itemIds.length;
  const { x, d } = embeddingsFor(cfg, input, new Rng(cfg.seed).fork('embedding'), log);
  const ks = candidateSizes(sizes, n);
  const bar = progress?.(`semantic IDs: ${cfg.levels}-level k-means at K = ${ks.join(', ')}`, ks.length, 'sizes');
  try {
    return codebookSweep(x, n, d, cfg.levels, ks, cfg.kmeansIters, () => kmeansRng(cfg.seed), { onSize: (k) => bar?.update(k) }).map((r) => r.candidate);
  } finally {
    bar?.stop();
  }
}

function buildRqKMeans(cfg: SidConfig, input: BuildSidInput, log: (line: string) => void, progress?: ProgressFactory): SemanticIds {
  const n = input.dataset.itemIds.length;
  if (n === 0) throw new UserError(`dataset "${input.dataset.name}" has no items: cannot build semantic IDs`);
  const { x, d } = embeddingsFor(cfg, input, new Rng(cfg.seed).fork('embedding'), log);
  const t0 = Date.now();
  let rq: ResidualKMeansResult;
  let choice: SidStats['codebookChoice'];
  if (cfg.codebookSize === 'auto') {
    const target = cfg.collisionTarget;
    const ks = candidateSizes(AUTO_CODEBOOK_SIZES, n);
    const bar = progress?.(`semantic IDs: codebook size (collisions <= ${(100 * target).toFixed(1)}%), K = ${ks.join(', ')}`, ks.length, 'sizes');
    let tried;
    try {
      tried = codebookSweep(x, n, d, cfg.levels, ks, cfg.kmeansIters, () => kmeansRng(cfg.seed), {
        onSize: (k) => bar?.update(k),
        stopWhen: (c) => c.collisionRate <= target,
      });
    } finally {
      bar?.stop();
    }
    const { chosen, metTarget } = chooseCodebookSize(tried.map((t) => t.candidate), target);
    rq = tried.find((t) => t.candidate.size === chosen.size)!.rq;
    choice = { collisionTarget: target, chosen: chosen.size, metTarget, candidates: tried.map((t) => t.candidate) };
    log(
      `semantic IDs: codebookSize auto chose K = ${chosen.size} (${metTarget ? 'the smallest' : 'no candidate met the target; the fewest collisions'}, ` +
        `collision rate ${(100 * chosen.collisionRate).toFixed(1)}% vs target ${(100 * target).toFixed(1)}%):\n${formatCandidates(choice.candidates, chosen.size)}`,
    );
  } else {
    const K = cfg.codebookSize;
    const bar = progress?.(`semantic IDs: residual k-means ${cfg.levels} x ${Math.min(K, n)}`, cfg.levels, 'levels');
    try {
      rq = residualKMeans(x, n, d, cfg.levels, K, cfg.kmeansIters, kmeansRng(cfg.seed), (done) => bar?.update(done));
    } finally {
      bar?.stop();
    }
  }
  log(
    `semantic IDs: residual k-means ${cfg.levels} x ${rq.codebookSizes[0]} in ${((Date.now() - t0) / 1000).toFixed(1)} s ` +
      `(Lloyd iterations per level: ${rq.iterations.join(', ')})`,
  );
  const dd = dedup(rq.codes, n, rq.levels, rq.codebookSizes);
  return {
    levels: dd.levels,
    codebookSizes: dd.codebookSizes,
    codes: dd.codes,
    stats: {
      method: 'rq-kmeans',
      embedding: cfg.embedding,
      levels: dd.levels,
      codebookSizes: dd.codebookSizes,
      dedupLevel: dd.dedupLevel,
      collisionRate: dd.collisionRate,
      maxCollisionGroup: dd.maxCollisionGroup,
      codebookUsage: dd.codebookUsage,
      residualMse: rq.residualMse,
      ...(choice ? { codebookChoice: choice } : {}),
    },
  };
}

/**
 * The dataset's semantic IDs per `cfg` (rq-kmeans over cf/text/latent embeddings, or an index
 * file), loaded from `<cacheDir>/sid-<hash>/` when an identical build is cached.
 */
export async function buildSemanticIds(
  cfg: SidConfig,
  input: BuildSidInput,
  log: (line: string) => void = () => {},
  progress?: ProgressFactory,
): Promise<BuiltSids> {
  const key = cacheKey(cfg, input.dataHash);
  const hash = hashOf(key);
  const dir = path.join(input.cacheDir, `sid-${hash}`);
  const n = input.dataset.itemIds.length;
  const hit = readCache(dir, n, log);
  if (hit) {
    log(`semantic IDs: loaded ${dir}`);
    return { sids: hit, cached: true, dir, hash };
  }
  // Built by one process; others sharing the processed-data folder wait and load its result.
  return withLock(dir, { what: `the semantic IDs ${dir}`, purpose: 'building semantic IDs', wait: true, log }, () => {
    const built = readCache(dir, n, () => {});
    if (built) {
      log(`semantic IDs: loaded ${dir} (built meanwhile by another process)`);
      return { sids: built, cached: true, dir, hash };
    }
    return buildAndCache(cfg, input, key, hash, dir, log, progress);
  });
}

function buildAndCache(
  cfg: SidConfig,
  input: BuildSidInput,
  key: unknown,
  hash: string,
  dir: string,
  log: (line: string) => void,
  progress?: ProgressFactory,
): BuiltSids {
  const n = input.dataset.itemIds.length;
  const t0 = Date.now();
  let sids: SemanticIds;
  if (cfg.method === 'file') {
    const file = requireFile(cfg);
    const loaded = loadSidFile(file, input.dataset.itemIds);
    sids = loaded.sids;
    log(`semantic IDs: loaded ${file} (${n} items${loaded.extraItems > 0 ? `; ${loaded.extraItems} items of the file are not in the dataset, ignored` : ''})`);
  } else {
    sids = buildRqKMeans(cfg, input, log, progress);
  }
  const seconds = (Date.now() - t0) / 1000;
  writeCache(dir, key, sids, input.dataset.itemIds, seconds);
  log(`semantic IDs: built in ${seconds.toFixed(1)} s, cached in ${dir}`);
  return { sids, cached: false, dir, hash };
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** Aligned text summary of SID statistics (for `data inspect` and logs). */
export function formatSidStats(stats: SidStats): string {
  const L = stats.levels;
  const base = stats.dedupLevel ? L - 1 : L;
  const cols = Array.from({ length: L }, (_, l) => (stats.dedupLevel && l === L - 1 ? `${l + 1} (dedup)` : String(l + 1)));
  const table: [string, string[]][] = [
    ['level', cols],
    ['codebook size', stats.codebookSizes.map(String)],
    ['usage', stats.codebookUsage.map(pct)],
  ];
  if (stats.residualMse)
    table.push(['residual MSE', Array.from({ length: L }, (_, l) => (l < stats.residualMse!.length ? stats.residualMse![l].toFixed(4) : '-'))]);
  const head = [
    ['method', stats.method + (stats.embedding ? ` (embedding ${stats.embedding})` : '')],
    ['levels', stats.dedupLevel ? `${L} (${base} + dedup level)` : `${L} (no dedup level)`],
    ['collision rate', `${pct(stats.collisionRate)} of items share their tuple before dedup (max group ${stats.maxCollisionGroup})`],
  ];
  const c = stats.codebookChoice;
  if (c) {
    head.push([
      'codebook size',
      `auto: K = ${c.chosen} (${c.metTarget ? 'smallest of' : 'target not met by any of'} ${c.candidates.map((x) => x.size).join(', ')} with collisions <= ${pct(c.collisionTarget)})`,
    ]);
  }
  const labelW = Math.max(...[...head, ...table].map(([k]) => k.length)) + 2;
  const colW = table.map(([, v]) => v).reduce((w, v) => v.map((s, i) => Math.max(w[i] ?? 0, s.length)), [] as number[]);
  const lines = head.map(([k, v]) => `${k.padEnd(labelW)}${v}`);
  for (const [k, v] of table) lines.push(`${k.padEnd(labelW)}${v.map((s, i) => s.padStart(colW[i])).join('  ')}`);
  return lines.join('\n');
}
