/**
 * The data contract between sources, splits, semantic IDs and every model. Items and users are
 * dense internal indices (0..I-1, 0..U-1); external ids are kept for output.
 */

/** One logged impression of the synthetic world's logging policy. */
export interface Impression {
  user: number;
  /** Step in the user's sequence: the history is sequences[user].slice(0, position). */
  position: number;
  /** Items shown, [S]. */
  items: Int32Array;
  /** 1 = clicked, [S]. */
  clicks: Uint8Array;
}

/** Everything true about the synthetic world, kept for evaluation and the gate's precision. */
export interface SyntheticTruth {
  dim: number;
  /** [I*dim] row-major true item vectors. */
  itemVectors: Float32Array;
  /** [I] category of each item. */
  itemCategory: Int32Array;
  /** [I] base popularity weights (Zipf), sum 1. */
  itemPopularity: Float64Array;
  /** [I] 1 = fresh item (late arrival, rarely exposed). */
  itemFresh: Uint8Array;
  /** [U*dim] row-major true user preference vectors. */
  userVectors: Float32Array;
  /** Utility coefficients: a*user.item + b*last.item + c*log(popularity). */
  a: number;
  b: number;
  c: number;
  /** Logged impressions at training positions only (never the valid/test steps). */
  impressions: Impression[];
}

export interface Dataset {
  name: string;
  source: 'synthetic' | 'csv' | 'sequences-json' | 'sequences-txt' | 'movielens';
  /** External id of each item index. */
  itemIds: string[];
  /** External id of each user index. */
  userIds: string[];
  /** Per user, item indices in time order: all interactions (train + valid + test). */
  sequences: Int32Array[];
  /** Per item, its text (title, description...) when the source has one. */
  itemText: string[] | null;
  truth: SyntheticTruth | null;
}

/** One prediction task: given the history, predict the target. */
export interface Example {
  user: number;
  /** Items before the target, time order (full history; models truncate to their maxHistory). */
  history: Int32Array;
  target: number;
}

/**
 * Leave-one-out: last item = test, second-to-last = validation, the rest = train.
 * The test history includes the validation item.
 */
export interface Splits {
  /** Per user, the training prefix (sequence minus the last two items). */
  train: Int32Array[];
  valid: Example[];
  test: Example[];
}

/** What `data prepare` caches and `data inspect` prints. */
export interface DataManifest {
  formatVersion: number;
  name: string;
  source: Dataset['source'];
  /** Hash of everything the prepared data depends on (config section + input file checksums). */
  hash: string;
  /** Input files with their sha256, so a changed file invalidates the cache. */
  inputs: { path: string; sha256: string; bytes: number }[];
  counts: { users: number; items: number; interactions: number; impressions?: number };
  splits: { train: number; valid: number; test: number };
  createdAt: string;
  prepareSeconds: number;
}
