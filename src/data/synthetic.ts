/**
 * The synthetic world (docs/METHOD.md 2.8): a seeded generator of user sequences and of the
 * exposure-biased impression logs a production ranker is trained on, with every true quantity
 * kept so that evaluation and the gate's precision can use it.
 *
 * - Items: latent vectors around unit-norm category centres (spread `categorySpread` in norm),
 *   Zipf base popularity over a random rank order, and a share `freshShare` of fresh items.
 * - Time: each user's steps lie on a global time axis in [0, 1]: the first at a random start in
 *   [0, USER_START_MAX), the last at 1 (the end of the log), evenly spaced between. A fresh item
 *   is released at a random time in [FRESH_RELEASE_FROM, FRESH_RELEASE_TO) and can be neither
 *   consumed nor shown before it. So fresh items are rare in training prefixes and common among
 *   the last (valid/test) steps.
 * - Next item: drawn among released items the user has not consumed yet, with probability
 *   ∝ exp(utility), utility = a·user·item + b·last·item + c·log(I·popularity). The I inside the
 *   log only shifts every logit by the same constant (the draw is unchanged); it centres utility
 *   near 0, so the click model's `clickBias` has a catalog-size-free meaning.
 * - Logging policy: at every training step (never the last two, which are valid/test) it shows
 *   S items: the consumed one (at a random slot) plus S-1 others drawn without replacement
 *   ∝ (popularity · (fresh ? FRESH_EXPOSURE : 1))^exposureAlpha among released, unconsumed
 *   items. exposureAlpha = 0 is a uniform (unbiased) logging policy. The consumed item is
 *   clicked; each other shown item is clicked with probability
 *   sigmoid(clickScale·(utility − clickBias)).
 * A ranker trained on these logs sees head items often and tail or fresh items almost never, so
 * it is reliable on the head and unreliable on the tail and fresh items; exposureAlpha = 0
 * narrows that gap.
 */
import { UserError } from '../errors.js';
import { AliasFreeSampler, Rng } from '../rng.js';
import type { SyntheticConfig } from '../config/schema.js';
import type { Dataset, Impression, SyntheticTruth } from './types.js';

/** Global time from which fresh items are released (uniformly until FRESH_RELEASE_TO). */
export const FRESH_RELEASE_FROM = 0.7;
export const FRESH_RELEASE_TO = 0.85;
/** Users' first steps start uniformly in [0, USER_START_MAX); every last step is at time 1. */
export const USER_START_MAX = 0.5;
/** Multiplier of a fresh item's popularity in the logging policy's exposure weight (before ^alpha). */
export const FRESH_EXPOSURE = 0.05;
/** Norm of the isotropic noise added to a user's category mix before normalising it to unit norm. */
export const USER_NOISE = 0.3;
/** The item-item Gram matrix is precomputed (Float64, I² entries) up to this many items. */
const GRAM_MAX_ITEMS = 2048;

/** What the generator knows beyond the contract's SyntheticTruth (same object, extra fields). */
export interface SyntheticWorldTruth extends SyntheticTruth {
  /** [I] global time from which the item can be consumed or shown; 0 for non-fresh items. */
  itemRelease: Float32Array;
  /** [I] the logging policy's exposure weight, sum 1 (shown items are drawn ∝ this). */
  itemExposure: Float64Array;
  /** [U] global time of the user's first step; step j of n is at stepTime(start, j, n). */
  userStart: Float32Array;
  /** S actually used: items per impression (impressionSize, capped on tiny catalogs). */
  impressionSize: number;
}

/** The extra fields when the truth came from this generator (always, for source synthetic). */
export function worldTruth(ds: Dataset): SyntheticWorldTruth | null {
  const t = ds.truth as SyntheticWorldTruth | null;
  return t && t.itemRelease ? t : null;
}

/** Global time in [0, 1] of step j of a sequence of length n that starts at `start`. */
export function stepTime(start: number, j: number, n: number): number {
  return n <= 1 ? 1 : start + ((1 - start) * j) / (n - 1);
}

function dotRows(a: ArrayLike<number>, ai: number, b: ArrayLike<number>, bi: number, dim: number): number {
  let s = 0;
  for (let d = 0; d < dim; d++) s += a[ai + d] * b[bi + d];
  return s;
}

/** c·log(I·pop): the popularity term of the utility (same float operations as the generator). */
function popTerm(truth: SyntheticTruth, item: number): number {
  return truth.c * Math.log(truth.itemPopularity.length * truth.itemPopularity[item]);
}

/**
 * True utility of `item` for `user` right after `lastItem` (-1 when the history is empty):
 * a·user·item + b·last·item + c·log(I·popularity). Bit-identical to what generated the data.
 */
export function trueUtility(truth: SyntheticTruth, user: number, lastItem: number, item: number): number {
  const D = truth.dim;
  const base = truth.a * dotRows(truth.userVectors, user * D, truth.itemVectors, item * D, D) + popTerm(truth, item);
  return lastItem >= 0 ? base + truth.b * dotRows(truth.itemVectors, lastItem * D, truth.itemVectors, item * D, D) : base;
}

/** [items.length] true utilities of several items for one (user, last item) context. */
export function trueUtilities(
  truth: SyntheticTruth,
  user: number,
  lastItem: number,
  items: ArrayLike<number>,
  out = new Float64Array(items.length),
): Float64Array {
  for (let k = 0; k < items.length; k++) out[k] = trueUtility(truth, user, lastItem, items[k]);
  return out;
}

/** [I] true utility of every item for one (user, last item) context. */
export function utilityRow(truth: SyntheticTruth, user: number, lastItem: number, out?: Float64Array): Float64Array {
  const I = truth.itemPopularity.length;
  const row = out ?? new Float64Array(I);
  for (let i = 0; i < I; i++) row[i] = trueUtility(truth, user, lastItem, i);
  return row;
}

/** Click probability of a shown item under the world's click model. */
export function clickProbability(utility: number, clickScale: number, clickBias: number): number {
  return 1 / (1 + Math.exp(-clickScale * (utility - clickBias)));
}

function checkConfig(cfg: SyntheticConfig): void {
  const numFresh = Math.round(cfg.freshShare * cfg.numItems);
  if (cfg.minSeqLen > cfg.maxSeqLen) {
    throw new UserError(`data.synthetic.minSeqLen (${cfg.minSeqLen}) must be <= data.synthetic.maxSeqLen (${cfg.maxSeqLen})`);
  }
  if (cfg.categoriesPerUser > cfg.numCategories) {
    throw new UserError(
      `data.synthetic.categoriesPerUser (${cfg.categoriesPerUser}) must be <= data.synthetic.numCategories (${cfg.numCategories})`,
    );
  }
  if (cfg.numItems - numFresh <= cfg.maxSeqLen) {
    throw new UserError(
      `data.synthetic: ${cfg.numItems - numFresh} non-fresh items (numItems ${cfg.numItems}, freshShare ${cfg.freshShare}) ` +
        `cannot fill a sequence of maxSeqLen ${cfg.maxSeqLen} before fresh items are released (no item repeats in a sequence); ` +
        `raise data.synthetic.numItems or lower freshShare or maxSeqLen`,
    );
  }
}

/** Unit-norm row vectors [n*dim] of standard normal draws. */
function unitRows(rng: Rng, n: number, dim: number): Float64Array {
  const out = new Float64Array(n * dim);
  for (let r = 0; r < n; r++) {
    let norm = 0;
    for (let d = 0; d < dim; d++) {
      const x = rng.normal();
      out[r * dim + d] = x;
      norm += x * x;
    }
    norm = Math.sqrt(norm) || 1;
    for (let d = 0; d < dim; d++) out[r * dim + d] /= norm;
  }
  return out;
}

/** Deterministic from cfg.seed: the same config gives the same world, bit for bit. */
export function generateSyntheticWorld(cfg: SyntheticConfig, name = 'synthetic'): Dataset {
  checkConfig(cfg);
  const I = cfg.numItems;
  const U = cfg.numUsers;
  const D = cfg.dim;
  const C = cfg.numCategories;
  const root = new Rng(cfg.seed);
  const rngItems = root.fork('items');
  const rngUsers = root.fork('users');
  const rngSeq = root.fork('sequences');
  const rngImp = root.fork('impressions');

  // ---- items
  const centres = unitRows(rngItems, C, D); // [C, D]
  const itemCategory = new Int32Array(I);
  const itemVectors = new Float32Array(I * D); // [I, D]
  const spread = cfg.categorySpread / Math.sqrt(D); // per coordinate, so the offset's norm ≈ categorySpread
  for (let i = 0; i < I; i++) {
    const cat = rngItems.int(C);
    itemCategory[i] = cat;
    for (let d = 0; d < D; d++) itemVectors[i * D + d] = centres[cat * D + d] + spread * rngItems.normal();
  }
  const rankOf = rngItems.shuffle(Array.from({ length: I }, (_, i) => i)); // rankOf[i]: popularity rank of item i
  const itemPopularity = new Float64Array(I);
  let popSum = 0;
  for (let i = 0; i < I; i++) popSum += itemPopularity[i] = Math.pow(rankOf[i] + 1, -cfg.zipf);
  for (let i = 0; i < I; i++) itemPopularity[i] /= popSum;

  const numFresh = Math.round(cfg.freshShare * I);
  const itemFresh = new Uint8Array(I);
  const itemRelease = new Float32Array(I);
  const freshPick = rngItems.shuffle(Array.from({ length: I }, (_, i) => i)).slice(0, numFresh);
  for (const i of freshPick) {
    itemFresh[i] = 1;
    itemRelease[i] = FRESH_RELEASE_FROM + (FRESH_RELEASE_TO - FRESH_RELEASE_FROM) * rngItems.next();
  }
  const itemExposure = new Float64Array(I);
  let expSum = 0;
  for (let i = 0; i < I; i++) {
    expSum += itemExposure[i] = Math.pow(itemPopularity[i] * (itemFresh[i] ? FRESH_EXPOSURE : 1), cfg.exposureAlpha);
  }
  for (let i = 0; i < I; i++) itemExposure[i] /= expSum;

  // ---- users: a Dirichlet(1) mix of a few category centres plus noise, unit norm
  const userVectors = new Float32Array(U * D); // [U, D]
  const userStart = new Float32Array(U);
  const seqLen = new Int32Array(U);
  const cats = Array.from({ length: C }, (_, c) => c);
  const mix = new Float64Array(D);
  for (let u = 0; u < U; u++) {
    mix.fill(0);
    for (let k = 0; k < cfg.categoriesPerUser; k++) {
      const j = k + rngUsers.int(C - k); // partial Fisher-Yates: distinct categories
      [cats[k], cats[j]] = [cats[j], cats[k]];
      const w = -Math.log(1 - rngUsers.next());
      for (let d = 0; d < D; d++) mix[d] += w * centres[cats[k] * D + d];
    }
    let norm = 0;
    for (let d = 0; d < D; d++) norm += mix[d] * mix[d];
    norm = Math.sqrt(norm) || 1;
    const noise = USER_NOISE / Math.sqrt(D);
    let norm2 = 0;
    for (let d = 0; d < D; d++) {
      mix[d] = mix[d] / norm + noise * rngUsers.normal();
      norm2 += mix[d] * mix[d];
    }
    norm2 = Math.sqrt(norm2) || 1;
    for (let d = 0; d < D; d++) userVectors[u * D + d] = mix[d] / norm2;
    userStart[u] = USER_START_MAX * rngUsers.next();
    seqLen[u] = cfg.minSeqLen + rngUsers.int(cfg.maxSeqLen - cfg.minSeqLen + 1);
  }

  const truthBase: SyntheticWorldTruth = {
    dim: D,
    itemVectors,
    itemCategory,
    itemPopularity,
    itemFresh,
    userVectors,
    a: cfg.a,
    b: cfg.b,
    c: cfg.c,
    impressions: [],
    itemRelease,
    itemExposure,
    userStart,
    impressionSize: 0,
  };

  // ---- precomputed utility parts: popularity term [I] and (small catalogs) the Gram matrix [I, I]
  const pop = new Float64Array(I);
  for (let i = 0; i < I; i++) pop[i] = popTerm(truthBase, i);
  const gram = I <= GRAM_MAX_ITEMS ? new Float64Array(I * I) : null;
  if (gram) {
    for (let i = 0; i < I; i++) {
      for (let j = i; j < I; j++) gram[i * I + j] = gram[j * I + i] = dotRows(itemVectors, i * D, itemVectors, j * D, D);
    }
  }

  // ---- sequences and impressions
  const nonFresh = I - numFresh;
  // Others shown at a training step come from released, unconsumed items: at least
  // nonFresh - (maxSeqLen - 2) of them, so S is capped on tiny catalogs (never on the default).
  const S = Math.min(cfg.impressionSize, nonFresh - cfg.maxSeqLen + 3);
  truthBase.impressionSize = S;
  let maxImpressions = 0;
  for (let u = 0; u < U; u++) maxImpressions += seqLen[u] - 2;
  const impUser = new Int32Array(maxImpressions);
  const impPos = new Int32Array(maxImpressions);
  const impItems = new Int32Array(maxImpressions * S); // [N, S]
  const impClicks = new Uint8Array(maxImpressions * S); // [N, S]
  let nImp = 0;

  const exposureSampler = new AliasFreeSampler(itemExposure);
  const sequences: Int32Array[] = new Array(U);
  const base = new Float64Array(I); // a·u·v + c·log(I·pop) for the current user
  const util = new Float64Array(I); // full utility at the current step
  const weight = new Float64Array(I);
  const consumed = new Uint8Array(I);
  const shownStamp = new Int32Array(I).fill(-1);
  const others = new Int32Array(S);
  const lastRow = gram ? null : new Float64Array(I);

  for (let u = 0; u < U; u++) {
    const n = seqLen[u];
    const seq = new Int32Array(n);
    for (let i = 0; i < I; i++) base[i] = cfg.a * dotRows(userVectors, u * D, itemVectors, i * D, D) + pop[i];
    let last = -1;
    for (let j = 0; j < n; j++) {
      const t = stepTime(userStart[u], j, n);
      if (last >= 0 && !gram) for (let i = 0; i < I; i++) lastRow![i] = dotRows(itemVectors, last * D, itemVectors, i * D, D);
      const lastBase = last * I;
      // Next item ∝ exp(utility) among released, unconsumed items (weight 0 marks the others).
      let max = -Infinity;
      for (let i = 0; i < I; i++) {
        const x = last < 0 ? base[i] : base[i] + cfg.b * (gram ? gram[lastBase + i] : lastRow![i]);
        util[i] = x;
        const ok = consumed[i] === 0 && itemRelease[i] <= t;
        weight[i] = ok ? 1 : 0;
        if (ok && x > max) max = x;
      }
      let total = 0;
      for (let i = 0; i < I; i++) if (weight[i] !== 0) total += weight[i] = Math.exp(util[i] - max);
      let r = rngSeq.next() * total;
      let item = -1;
      for (let i = 0; i < I; i++) {
        if (weight[i] === 0) continue;
        item = i;
        r -= weight[i];
        if (r < 0) break;
      }
      seq[j] = item;
      consumed[item] = 1;

      if (j < n - 2) {
        const stamp = nImp;
        shownStamp[item] = stamp;
        const eligible = (i: number) => !consumed[i] && itemRelease[i] <= t && shownStamp[i] !== stamp;
        let got = 0;
        // Rejection from the fixed exposure distribution is cheap because rejections are rare
        // (fresh items carry little exposure); an exact scan takes over in skewed corner cases.
        for (let tries = 0; got < S - 1 && tries < 64 * S; tries++) {
          const i = exposureSampler.sample(rngImp);
          if (eligible(i)) {
            shownStamp[i] = stamp;
            others[got++] = i;
          }
        }
        while (got < S - 1) {
          let tot = 0;
          for (let i = 0; i < I; i++) if (eligible(i)) tot += itemExposure[i];
          let rr = rngImp.next() * tot;
          let pick = -1;
          for (let i = 0; i < I; i++) {
            if (!eligible(i)) continue;
            pick = i;
            rr -= itemExposure[i];
            if (rr < 0) break;
          }
          shownStamp[pick] = stamp;
          others[got++] = pick;
        }
        const slot = rngImp.int(S);
        const off = nImp * S;
        for (let k = 0, o = 0; k < S; k++) {
          if (k === slot) {
            impItems[off + k] = item;
            impClicks[off + k] = 1;
          } else {
            const i = others[o++];
            impItems[off + k] = i;
            impClicks[off + k] = rngImp.next() < clickProbability(util[i], cfg.clickScale, cfg.clickBias) ? 1 : 0;
          }
        }
        impUser[nImp] = u;
        impPos[nImp] = j;
        nImp++;
      }
      last = item;
    }
    for (let j = 0; j < n; j++) consumed[seq[j]] = 0;
    sequences[u] = seq;
  }

  truthBase.impressions = impressionsFromFlat(impUser, impPos, impItems, impClicks, nImp, S);
  return {
    name,
    source: 'synthetic',
    itemIds: Array.from({ length: I }, (_, i) => `i${i}`),
    userIds: Array.from({ length: U }, (_, u) => `u${u}`),
    sequences,
    itemText: null,
    truth: truthBase,
  };
}

/** Impressions as views into flat arrays ([N], [N], [N*S], [N*S]): compact in memory and on disk. */
export function impressionsFromFlat(
  user: Int32Array,
  position: Int32Array,
  items: Int32Array,
  clicks: Uint8Array,
  n: number,
  S: number,
): Impression[] {
  const out: Impression[] = new Array(n);
  for (let k = 0; k < n; k++) {
    out[k] = {
      user: user[k],
      position: position[k],
      items: items.subarray(k * S, (k + 1) * S),
      clicks: clicks.subarray(k * S, (k + 1) * S),
    };
  }
  return out;
}

/** Flat copies of the impressions (the inverse of impressionsFromFlat); all must have the same S. */
export function impressionsToFlat(imps: Impression[]): {
  user: Int32Array;
  position: Int32Array;
  items: Int32Array;
  clicks: Uint8Array;
  S: number;
} {
  const n = imps.length;
  const S = n > 0 ? imps[0].items.length : 0;
  const user = new Int32Array(n);
  const position = new Int32Array(n);
  const items = new Int32Array(n * S);
  const clicks = new Uint8Array(n * S);
  imps.forEach((imp, k) => {
    if (imp.items.length !== S) throw new Error(`impression ${k} shows ${imp.items.length} items, expected ${S}`);
    user[k] = imp.user;
    position[k] = imp.position;
    items.set(imp.items, k * S);
    clicks.set(imp.clicks, k * S);
  });
  return { user, position, items, clicks, S };
}
