/** Semantic IDs: each item is a tuple of L codes, code l in [0, K_l). docs/METHOD.md 2.1. */

export interface SidStats {
  method: 'rq-kmeans' | 'file';
  embedding: 'cf' | 'text' | 'latent' | null;
  /** Levels including the dedup level, if one was added. */
  levels: number;
  codebookSizes: number[];
  /** Whether a final dedup level was appended because some items shared all codes. */
  dedupLevel: boolean;
  /** Share of items whose tuple (before dedup) is shared with at least one other item. */
  collisionRate: number;
  /** Largest number of items sharing one tuple before dedup. */
  maxCollisionGroup: number;
  /** Per level, share of the K_l codes used by at least one item. */
  codebookUsage: number[];
  /** `sid.codebookSize: auto`: the candidates tried (ascending), the target and the size chosen. */
  codebookChoice?: {
    collisionTarget: number;
    chosen: number;
    /** False when no candidate met the target: the one with the fewest collisions was taken. */
    metTarget: boolean;
    candidates: { size: number; collisionRate: number; maxCollisionGroup: number; codebookUsage: number[] }[];
  };
  /** rq-kmeans only: mean squared residual norm after each level (quantisation error). */
  residualMse?: number[];
}

export interface SemanticIds {
  levels: number;
  codebookSizes: number[];
  /** [I*L] row-major: codes[item*L + l]. */
  codes: Int32Array;
  stats: SidStats;
}
