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
