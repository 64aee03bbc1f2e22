/**
 * The gate's precision on the synthetic world (docs/METHOD.md 2.5), where the true utility is
 * known: how often the ranker orders a sample's candidates as the truth does.
 */

/**
 * Per-sample ranker reliability on the synthetic world: over the ground truth and its negatives,
 * the share of candidate pairs whose ranker order agrees with their true-utility order (pairs of
 * equal utility skipped). 1 = the ranker orders them exactly as the truth, 0.5 = chance.
 */
export function rankerReliability(rankerScores: ArrayLike<number>, trueUtilities: ArrayLike<number>): number {
  let agree = 0;
  let pairs = 0;
  for (let a = 0; a < rankerScores.length; a++) {
    for (let b = a + 1; b < rankerScores.length; b++) {
      const du = trueUtilities[a] - trueUtilities[b];
      if (du === 0) continue;
      const ds = rankerScores[a] - rankerScores[b];
      pairs++;
      agree += ds === 0 ? 0.5 : Math.sign(ds) === Math.sign(du) ? 1 : 0;
    }
  }
  return pairs > 0 ? agree / pairs : Number.NaN;
}
