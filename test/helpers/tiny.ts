/**
 * The tiny synthetic world and policy the CLI tests train on (seconds per run); each test adds
 * the stage settings it needs.
 */
export const TINY_WORLD = `name: tiny
backend: wasm
data:
  synthetic: { numItems: 40, numUsers: 30, numCategories: 4, minSeqLen: 4, maxSeqLen: 9 }
sid: { levels: 2, codebookSize: 8, embedding: latent }
policy: { layers: 1, dim: 16, heads: 2, maxHistory: 5 }
`;

/**
 * Semantic IDs of a 40-item tiny world, item i = (i div 8, i mod 8) with K = [8, 8]: 64 tuples, 24
 * of them no item (hallucinations). [40 * 2] codes, item-major.
 */
export const TINY_CODES_40x2 = Int32Array.from({ length: 80 }, (_, k) => (k % 2 === 0 ? Math.floor(k / 2 / 8) : ((k - 1) / 2) % 8));
