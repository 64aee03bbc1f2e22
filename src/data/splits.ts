/**
 * Leave-one-out splits (docs/METHOD.md 2.6): per user, last item = test, second-to-last = validation,
 * the rest = train. Every sequence must have at least 3 items: prepareData guarantees it by
 * dropping shorter users before indexing (counted in the manifest's `filter`), and the synthetic
 * world has minSeqLen >= 3.
 */
import type { Dataset, Example, Splits } from './types.js';

/** The shortest sequence that leave-one-out can split (1 train + valid + test). */
export const MIN_SPLIT_LENGTH = 3;

/**
 * Histories and train prefixes are views (subarray) of `ds.sequences`, not copies: treat them as
 * read-only. Throws (an internal error) if some sequence is shorter than 3.
 */
export function leaveOneOut(ds: Dataset): Splits {
  const train: Int32Array[] = new Array(ds.sequences.length);
  const valid: Example[] = new Array(ds.sequences.length);
  const test: Example[] = new Array(ds.sequences.length);
  ds.sequences.forEach((seq, user) => {
    const n = seq.length;
    if (n < MIN_SPLIT_LENGTH) {
      throw new Error(`leaveOneOut: user ${user} (${ds.userIds[user]}) has ${n} items; every sequence needs >= ${MIN_SPLIT_LENGTH}`);
    }
    train[user] = seq.subarray(0, n - 2);
    valid[user] = { user, history: seq.subarray(0, n - 2), target: seq[n - 2] };
    test[user] = { user, history: seq.subarray(0, n - 1), target: seq[n - 1] };
  });
  return { train, valid, test };
}

/** [I] interactions per item in the training prefixes only (no valid/test leakage). */
export function trainItemCounts(splits: Splits, numItems: number): Int32Array {
  const counts = new Int32Array(numItems);
  for (const seq of splits.train) for (let j = 0; j < seq.length; j++) counts[seq[j]]++;
  return counts;
}

/** Sizes as the manifest records them: train = interactions in train prefixes; valid/test = examples. */
export function splitSizes(splits: Splits): { train: number; valid: number; test: number } {
  let train = 0;
  for (const seq of splits.train) train += seq.length;
  return { train, valid: splits.valid.length, test: splits.test.length };
}
