/**
 * Group-normalised advantages (docs/METHOD.md 2.4): A_{i,g} = (r_{i,g} - mean_g r_i) / (std_g r_i + 1e-6).
 * std is the sample standard deviation (divisor G-1), as in TRL's GRPOTrainer (torch.std). A group
 * whose rewards are all equal carries no preference: its advantages are exactly 0 and it is
 * counted in `fracZeroStd`.
 */
export interface Advantages {
  /** [B*G] row-major by sample. */
  values: Float32Array;
  /** [B] 1 when the group's rewards have zero spread. */
  zeroStd: Uint8Array;
  fracZeroStd: number;
  /** Mean over groups of the reward std (a measure of how much the reward separates rollouts). */
  meanStd: number;
}

export const ADVANTAGE_EPS = 1e-6;

export function groupAdvantages(rewards: ArrayLike<number>, B: number, G: number): Advantages {
  if (rewards.length !== B * G) throw new Error(`rewards has ${rewards.length} values, expected B*G = ${B * G}`);
  const values = new Float32Array(B * G);
  const zeroStd = new Uint8Array(B);
  let nZero = 0;
  let stdSum = 0;
  for (let i = 0; i < B; i++) {
    let mean = 0;
    for (let g = 0; g < G; g++) mean += rewards[i * G + g];
    mean /= G;
    let ss = 0;
    for (let g = 0; g < G; g++) ss += (rewards[i * G + g] - mean) ** 2;
    const std = G > 1 ? Math.sqrt(ss / (G - 1)) : 0;
    stdSum += std;
    if (std < 1e-12) {
      zeroStd[i] = 1;
      nZero++;
      continue;
    }
    for (let g = 0; g < G; g++) values[i * G + g] = (rewards[i * G + g] - mean) / (std + ADVANTAGE_EPS);
  }
  return { values, zeroStd, fracZeroStd: B > 0 ? nZero / B : 0, meanStd: B > 0 ? stdSum / B : 0 };
}
