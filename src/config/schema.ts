/**
 * The one config schema: types, defaults and validation in one place (zod). Every object is
 * strict, so an unknown key is an error reported with its dot path. docs/METHOD.md sections 2-6 give
 * the meaning of each key; docs/CONFIG.md lists every key with its default.
 */
import { z } from 'zod';

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.number().int().min(min).max(max);
const prob = () => z.number().min(0).max(1);
const posNum = () => z.number().positive();

/** A strict object whose missing value becomes `{}` and is then filled with defaults. */
function section<T extends z.ZodRawShape>(shape: T) {
  // `{} as never`: every field of a section has a default, which the generic type cannot see.
  return z.strictObject(shape).prefault({} as never);
}

export const syntheticSchema = section({
  seed: int(0, 2 ** 31 - 1).default(0).describe('The world\'s own seed: fixed while the run seed varies, so seeds measure training variance.'),
  numItems: int(20).default(1000).describe('Catalog size.'),
  numUsers: int(10).default(2000).describe('Number of users (one sequence each).'),
  dim: int(2, 256).default(16).describe('Dimension of the latent item/user space.'),
  numCategories: int(1).default(20).describe('Category clusters of the item latent vectors.'),
  categorySpread: posNum().default(0.35).describe('Spread of items around their category centre (category centres have unit scale).'),
  zipf: z.number().min(0).max(3).default(1.0).describe('Zipf exponent of base item popularity.'),
  freshShare: prob().default(0.15).describe('Share of items that are fresh: late arrivals with little exposure.'),
  categoriesPerUser: int(1).default(3).describe('Preferred categories per user.'),
  minSeqLen: int(3).default(5).describe('Shortest user sequence (items), including the valid and test items.'),
  maxSeqLen: int(3).default(20).describe('Longest user sequence (items).'),
  a: z.number().default(3.0).describe('Next-item logit = a*user.item + b*last.item + c*log(popularity).'),
  b: z.number().default(1.5).describe('Weight of the last item (short-term taste) in the next-item logit.'),
  c: z.number().default(0.5).describe('Weight of log popularity in the next-item logit.'),
  exposureAlpha: z.number().min(0).max(3).default(1.0).describe('Logging policy: exposure ∝ popularity^alpha.'),
  impressionSize: int(2, 100).default(10).describe('Items shown per logged impression.'),
  clickScale: posNum().default(2.0).describe('Click probability = sigmoid(clickScale * (utility - clickBias)).'),
  clickBias: z.number().default(1.0).describe('Utility at which a shown item is clicked with probability 1/2.'),
});

export const dataSchema = section({
  source: z
    .enum(['synthetic', 'csv', 'sequences-json', 'sequences-txt', 'movielens'])
    .default('synthetic')
    .describe('Where interactions come from: the built-in synthetic world, a CSV log, LC-Rec/LETTER JSON, a plain-text sequence file, or MovieLens.'),
  name: z.string().min(1).optional().describe('Name used for the processed-data cache folder; defaults to the source.'),
  processedDir: z.string().min(1).default('data/processed').describe('Cache of prepared data and semantic IDs, keyed by a hash of their inputs.'),
  kcore: int(0).default(5).describe('k-core filter: repeat dropping users and items with fewer than k interactions; 0 disables.'),
  synthetic: syntheticSchema,
  csv: section({
    path: z.string().min(1).optional().describe('Interaction log CSV (one row per interaction).'),
    userColumn: z.string().min(1).default('user').describe('Column holding the user id.'),
    itemColumn: z.string().min(1).default('item').describe('Column holding the item id.'),
    timestampColumn: z.string().min(1).default('timestamp').describe('Column holding a numeric timestamp (orders each user\'s sequence).'),
    delimiter: z.string().min(1).max(1).default(',').describe('Field delimiter (one character).'),
    itemsPath: z.string().min(1).optional().describe('Optional item table with text columns (for `sid.embedding: text`).'),
    itemIdColumn: z.string().min(1).default('item').describe('Item id column of the item table.'),
    textColumns: z.array(z.string().min(1)).default(['title']).describe('Item table columns concatenated into the item text.'),
  }),
  sequencesJson: section({
    inter: z.string().min(1).optional().describe('`*.inter.json`: {"<user>": [item, ...]} in time order.'),
    item: z.string().min(1).optional().describe('`*.item.json`: {"<item>": {title, description, ...}}.'),
  }),
  sequencesTxt: section({
    path: z.string().min(1).optional().describe('Plain-text sequences in time order, no timestamps (see `layout`).'),
    layout: z
      .enum(['user-items', 'user-item-pairs'])
      .default('user-items')
      .describe('user-items: one line per user, `user item item ...`; user-item-pairs: one `user item` interaction per line, the file in time order.'),
    delimiter: z.string().min(1).max(1).optional().describe('Field delimiter (one character); unset = any run of spaces and tabs.'),
  }),
  movielens: section({
    ratings: z.string().min(1).optional().describe('`ratings.dat` (user::item::rating::ts) or `ratings.csv` (userId,movieId,rating,timestamp).'),
    movies: z.string().min(1).optional().describe('movies.dat or movies.csv: titles become item text.'),
    minRating: z.number().min(0).default(0).describe('Keep ratings >= this as interactions; 0 keeps all.'),
  }),
});

export const sidSchema = section({
  method: z.enum(['rq-kmeans', 'file']).default('rq-kmeans').describe('How items get semantic IDs: residual k-means over item embeddings, or an existing *.index.json.'),
  embedding: z.enum(['cf', 'text', 'latent']).default('cf').describe('Item embedding clustered by rq-kmeans; `latent` is the synthetic world\'s true item vectors.'),
  levels: int(1, 8).default(3).describe('Code levels L built by rq-kmeans (a dedup level is appended if items collide).'),
  codebookSize: z
    .union([int(2, 4096), z.literal('auto')])
    .default(256)
    .describe('Codes per level K, or `auto`: the smallest of 8, 16, ..., 1024 whose collision rate is at most sid.collisionTarget (recorded in the IDs\' sid.json).'),
  collisionTarget: prob()
    .default(0.05)
    .describe('For codebookSize auto: the largest acceptable share of items that share their code tuple with another item before the dedup level.'),
  kmeansIters: int(1).default(25).describe('Lloyd iterations per level.'),
  embeddingDim: int(2, 512).default(32).describe('Dimension of the SVD embedding for `cf` and `text`.'),
  seed: int(0, 2 ** 31 - 1).default(0).describe('Seed of k-means++ init and SVD: IDs are data preprocessing, shared by every run seed.'),
  file: z.string().min(1).optional().describe('`*.index.json` for `method: file`.'),
});

export const policySchema = section({
  layers: int(1, 24).default(2).describe('Transformer blocks.'),
  dim: int(8, 2048).default(64).describe('Model width.'),
  heads: int(1, 64).default(2).describe('Attention heads (must divide dim).'),
  dropout: z.number().min(0).max(0.9).default(0.1).describe('Dropout rate during SFT. Off in RL (so the first PPO epoch has ratio exactly 1) and in decoding.'),
  maxHistory: int(1, 200).default(20).describe('Items of history in the prompt.'),
  tieEmbeddings: z.boolean().default(true).describe('Share the token embedding with the output head.'),
});

const schedule = {
  lr: posNum().default(1e-3).describe('Peak learning rate (AdamW).'),
  weightDecay: z.number().min(0).default(0.01).describe('Decoupled weight decay (AdamW).'),
  warmupSteps: int(0).default(50).describe('Linear warmup steps before the cosine decay.'),
  minLrRatio: z.number().min(0).max(1).default(0.1).describe('Cosine decay ends at lr * minLrRatio.'),
  gradClip: z.number().min(0).default(1.0).describe('Clip the global gradient norm to this; 0 disables.'),
};

export const sftSchema = section({
  steps: int(0).default(1000).describe('Optimizer steps of supervised training.'),
  batchSize: int(1).default(64).describe('Sequences per step.'),
  microBatchSize: int(0)
    .default(0)
    .describe('Sequences per forward/backward pass: the step\'s gradient is accumulated over passes of this many (less memory, the same step up to float rounding; dropout masks differ). 0 = the whole batch in one pass.'),
  targets: z.enum(['all', 'last']).default('all').describe('all: NLL on every item of the sequence window (causal LM, like SASRec); last: only the final item.'),
  labelSmoothing: z
    .number()
    .min(0)
    .max(0.5)
    .default(0)
    .describe('Label smoothing ε of the SFT cross-entropy: each token\'s target is 1 − ε on the true code plus ε spread over its level\'s codes. The logged loss is then that cross-entropy, not the NLL. 0 = plain NLL.'),
  ...schedule,
  checkpointEvery: int(1).default(500).describe('Save a checkpoint every this many steps (and at the end).'),
});

export const rankerSchema = section({
  dim: int(4, 1024).default(32).describe('Item embedding width of the ranker.'),
  hidden: int(4, 4096).default(64).describe('Hidden width of the ranker MLP.'),
  encoder: z
    .enum(['attention', 'pooling'])
    .default('pooling')
    .describe('History encoder: mean pooling, or target attention of the candidate over the history (as accurate on the synthetic world, ~3x slower on wasm).'),
  maxHistory: int(1, 200).default(20).describe('Items of history the ranker sees.'),
  steps: int(0).default(1000).describe('Optimizer steps of ranker training.'),
  batchSize: int(1).default(256).describe('Histories per step: impressions (synthetic), or observed next items each with its sampled negatives (real logs).'),
  microBatchSize: int(0)
    .default(0)
    .describe('Histories per forward/backward pass: the step\'s gradient is accumulated over passes of this many (less memory, the same step up to float rounding). 0 = the whole batch in one pass.'),
  ...schedule,
  lr: posNum().default(3e-3).describe('Peak learning rate of the ranker (3e-3 reaches the held-out-log AUC plateau in 1000 steps; 1e-2 overfits).'),
  exposureBias: z.number().min(0).max(3).default(1.0).describe('Real logs: negatives drawn ∝ popularity^exposureBias (0 = uniform).'),
  negativesPerPositive: int(1, 100).default(4).describe('Real logs: sampled exposure negatives per observed next item.'),
  checkpointEvery: int(1).default(500).describe('Save a checkpoint every this many steps (and at the end).'),
});

export const rewardSchema = section({
  invalid: z.number().default(-1).describe('Reward of a generated tuple that is no catalog item.'),
  hit: z.number().default(0).describe('Bonus when the rollout is the ground-truth item.'),
});

export const ALGORITHMS = ['nll', 'grpo', 'grpo+nll', 'adagrpo', 'random-gate', 'hard-only', 'disc-only'] as const;

export const rlSchema = section({
  algorithm: z.enum(ALGORITHMS).default('adagrpo').describe('Which gate: nll (c=0), grpo (no NLL, c=1), grpo+nll (c=1), adagrpo (hard AND disc), random-gate, hard-only, disc-only.'),
  steps: int(0).default(200).describe('RL optimizer steps (each samples fresh rollouts).'),
  batchSize: int(1).default(32).describe('Prompts per step.'),
  microBatchSize: int(0)
    .default(0)
    .describe('Prompts (with their G rollouts) of the policy update per forward/backward pass: the step\'s gradient is accumulated over passes of this many (less memory, the same step up to float rounding; RL runs without dropout). 0 = the whole batch in one pass.'),
  numGenerations: int(2, 256).default(8).describe('G: rollouts per prompt.'),
  temperature: posNum().default(1.0).describe('Sampling temperature of the rollouts.'),
  constrained: z
    .boolean()
    .default(false)
    .describe('Sample rollouts only among valid semantic IDs (trie-masked), so every group compares real items the ranker can judge; false keeps hallucinations (and their reward.invalid) in the groups.'),
  epsilon: z.number().min(0).max(1).default(0.2).describe('PPO clip range.'),
  beta: z.number().min(0).default(0).describe('Weight of the k3 KL to the frozen SFT policy.'),
  optimizerFromSft: z
    .boolean()
    .default(false)
    .describe('Start AdamW\'s moments and step count from the SFT checkpoint RL starts from (false: zeros, so the first updates are about lr per weight whatever the gradient scale).'),
  ppoEpochs: int(1, 16).default(1).describe('Updates per batch of rollouts (ratio ≠ 1 only after the first).'),
  lambda: z.number().min(0).default(1.0).describe('λ: weight of the gated GRPO term.'),
  lambdaMatchRun: z
    .string()
    .min(1)
    .optional()
    .describe('Run folder whose mean admission rate multiplies λ: grpo+nll at AdaGRPO\'s effective RL weight (the control for "the gate only means less RL").'),
  ...schedule,
  lr: posNum().default(1e-4).describe('Peak learning rate of the RL stage (AdamW).'),
  warmupSteps: int(0).default(10).describe('Linear warmup steps of the RL stage.'),
  randomGate: section({
    p: prob().default(0.12).describe('Admission probability of the random-gate control.'),
    matchRun: z.string().min(1).optional().describe('Run folder whose mean admission rate sets p (overrides p).'),
  }),
  checkpointEvery: int(1).default(100).describe('Save a checkpoint every this many steps (and at the end).'),
});

export const sasrecSchema = section({
  dim: int(8, 1024).default(64).describe('SASRec baseline: embedding and hidden size.'),
  layers: int(1, 12).default(2).describe('SASRec baseline: self-attention blocks.'),
  heads: int(1, 16).default(1).describe('SASRec baseline: attention heads (must divide dim).'),
  maxLen: int(2, 512).default(50).describe('SASRec baseline: most recent items of a history it reads.'),
  dropout: z.number().min(0).max(0.9).default(0.2).describe('SASRec baseline: dropout on embeddings, attention and residual branches.'),
  loss: z
    .enum(['ce', 'bce'])
    .default('ce')
    .describe('SASRec baseline: ce = softmax cross-entropy over the whole catalog at every position; bce = the original paper\'s one sampled negative per position.'),
  steps: int(0).default(2000).describe('SASRec baseline: optimizer steps.'),
  batchSize: int(1).default(128).describe('SASRec baseline: training sequences per step.'),
  ...schedule,
  checkpointEvery: int(1).default(500).describe('Save a checkpoint every this many steps (and at the end).'),
});

/** Discriminability estimators of the gate (docs/METHOD.md 2.5; src/rl/discriminability.ts). */
export const ESTIMATORS = ['margin', 'ensemble', 'exposure', 'calibrated'] as const;

export const gateSchema = section({
  difficulty: section({
    statistic: z.enum(['gtRank', 'gtProb', 'hitRate', 'entropy']).default('gtRank').describe('Policy-side difficulty: gtRank (share of rollouts more likely than the truth ≥ τ), gtProb (p(y|x) < τ), hitRate (hits < τ), entropy (≥ τ).'),
    tau: z.number().min(0).default(0.5).describe('Threshold τ of the difficulty statistic.'),
  }),
  discriminability: section({
    rho: prob().default(0.8).describe('Threshold ρ on the estimator\'s d_i (for margin, the share of negatives the ranker scores below the ground truth).'),
    inBatchNegatives: int(0, 1000).default(5).describe('M: ground-truth items of other samples in the batch used as extra negatives.'),
    estimator: z
      .enum(ESTIMATORS)
      .default('margin')
      .describe('How d_i is estimated: margin (the ranker\'s own scores), ensemble (lower confidence bound of K bootstrap rankers\' margins), exposure (comparisons weighted by the ranker\'s held-out accuracy per exposure bucket), calibrated (predicted share of all candidate pairs the ranker orders right, from its held-out accuracy by score gap and exposure bucket).'),
    ensemble: section({
      size: int(2, 16).default(4).describe('K: ensemble members, the reward ranker included (K−1 are trained at the start of RL).'),
      steps: int(0).default(0).describe('Training steps of each bootstrap member (0 = ranker.steps).'),
      z: z.number().min(0).default(1).describe('A negative counts when mean − z·sd of the members\' margins is above 0.'),
    }),
    exposure: section({
      buckets: int(1, 20).default(4).describe('Quantile buckets of logged exposure among exposed items (never-exposed items are a bucket of their own).'),
      prior: z.number().min(0).default(50).describe('Pseudo-pairs at chance (½) added to each bucket pair\'s held-out accuracy.'),
    }),
    calibrated: section({
      gapBins: int(1, 100).default(8).describe('Quantile bins of the held-out pairs\' ranker score gap |Δ logit| (calibrated estimator).'),
      buckets: int(1, 20).default(4).describe('Quantile buckets of logged exposure among exposed items, crossed with the gap bins (never-exposed items are a bucket of their own).'),
      prior: z.number().min(0).default(50).describe('Pseudo-pairs at chance (½) added to each (gap bin, bucket pair) cell\'s held-out accuracy.'),
    }),
  }),
});

export const evalSchema = section({
  every: int(1).default(200).describe('Validate every this many training steps.'),
  beam: int(1, 1000).default(20).describe('Beam width W of decoding (recorded with every result).'),
  ks: z.array(int(1, 1000)).min(1).default([1, 5, 10, 20]).describe('Cut-offs K of HR@K, NDCG@K and hallucination@K.'),
  constrained: z.boolean().default(false).describe('Restrict decoding to valid semantic IDs (hallucination is then 0).'),
  maxUsers: int(0).default(0).describe('Evaluate on at most this many users (0 = all), chosen by eval.userSample; validation during training uses this.'),
  testMaxUsers: int(0)
    .default(0)
    .describe('Test users that train evaluates at the best and final checkpoints (0 = all), chosen by eval.userSample: the same users in every run, so comparisons stay paired.'),
  userSample: z
    .enum(['spread', 'first'])
    .default('spread')
    .describe(
      'Which users a capped evaluation (maxUsers, testMaxUsers, --max-users) takes: spread = N evenly spaced over the split in file order; first = the first N, as every capped evaluation did before this setting existed (the stage cache keys it so). Data files are often ordered by activity: Beauty\'s first 2,000 users have 12.1 interactions on average, the others 8.6, and a test HR@10 of 0.023 against 0.044 over all users (docs/METHOD.md 2.6).',
    ),
  batchSize: int(1).default(256).describe('Users decoded per batch.'),
});

export const configSchema = z.strictObject({
  name: z
    .string()
    .min(1)
    .regex(/^[A-Za-z0-9._+-]+$/, 'use letters, digits and . _ + - only (it names a folder)')
    .default('run')
    .describe('Run name: the run folder is <runsDir>/<name>_s<seed>.'),
  seed: int(0, 2 ** 31 - 1).default(1).describe('Run seed: model init, dropout, batching, sampling and gates all draw from it.'),
  upstreamSeed: int(0, 2 ** 31 - 1)
    .optional()
    .describe('Seed of the SFT and ranker stages (default: the run seed). Fix it so that seeds vary the RL stage only, from one SFT policy and ranker.'),
  backend: z
    .enum(['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'])
    .default('auto')
    .describe('tfjs backend; auto tries tensorflow (GPU, then CPU), webgpu on a hardware adapter, wasm, cpu and records the choice, the adapter and why each earlier one was skipped. webgpu also accepts a software adapter (lavapipe), with a warning.'),
  threads: int(1, 8)
    .default(1)
    .describe('XNNPACK threads of the wasm backend (matMul and its other XNNPACK kernels; other backends ignore it). 1 runs the single-threaded SIMD build; more runs the threaded one, whose results are bit-identical (test/backend/threads.test.ts). 1 by default: runs often share a machine\'s cores.'),
  runsDir: z.string().min(1).default('runs').describe('Folder of run folders and of the shared stage cache (_stages/).'),
  data: dataSchema,
  sid: sidSchema,
  policy: policySchema,
  sft: sftSchema,
  ranker: rankerSchema,
  reward: rewardSchema,
  rl: rlSchema,
  gate: gateSchema,
  eval: evalSchema,
  sasrec: sasrecSchema,
});

export type Config = z.output<typeof configSchema>;

/**
 * Keys that change how a step is computed but not what (memory against speed, like the backend and
 * its threads, whose results are bit-identical):
 * a run may resume with other values, and stage caches do not key on them.
 */
export const COMPUTE_ONLY_KEYS = ['backend', 'threads', 'sft.microBatchSize', 'ranker.microBatchSize', 'rl.microBatchSize'] as const;

/**
 * Keys that hold a file or folder path. A relative path written in a config file resolves against
 * that file's folder (src/config/load.ts); one given with `--set` against the working directory.
 */
export const PATH_KEYS = [
  'runsDir',
  'data.processedDir',
  'data.csv.path',
  'data.csv.itemsPath',
  'data.sequencesJson.inter',
  'data.sequencesJson.item',
  'data.sequencesTxt.path',
  'data.movielens.ratings',
  'data.movielens.movies',
  'sid.file',
  'rl.lambdaMatchRun',
  'rl.randomGate.matchRun',
] as const;
export type DataConfig = Config['data'];
export type SyntheticConfig = DataConfig['synthetic'];
export type SidConfig = Config['sid'];
export type PolicyConfig = Config['policy'];
export type SftConfig = Config['sft'];
export type RankerConfig = Config['ranker'];
export type RlConfig = Config['rl'];
export type GateConfig = Config['gate'];
export type EvalConfig = Config['eval'];
export type SasrecConfig = Config['sasrec'];
export type Algorithm = (typeof ALGORITHMS)[number];

/** Cross-field checks zod's per-field rules cannot express; each names its dot path. */
export function crossFieldIssues(c: Config): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  const s = c.data.synthetic;
  if (s.minSeqLen > s.maxSeqLen) out.push({ path: 'data.synthetic.minSeqLen', message: `must be <= data.synthetic.maxSeqLen (${s.maxSeqLen})` });
  if (s.categoriesPerUser > s.numCategories)
    out.push({ path: 'data.synthetic.categoriesPerUser', message: `must be <= data.synthetic.numCategories (${s.numCategories})` });
  if (c.data.source === 'csv' && !c.data.csv.path) out.push({ path: 'data.csv.path', message: 'required when data.source is csv' });
  if (c.data.source === 'sequences-json' && !c.data.sequencesJson.inter)
    out.push({ path: 'data.sequencesJson.inter', message: 'required when data.source is sequences-json' });
  if (c.data.source === 'sequences-txt' && !c.data.sequencesTxt.path)
    out.push({ path: 'data.sequencesTxt.path', message: 'required when data.source is sequences-txt' });
  if (c.data.source === 'movielens' && !c.data.movielens.ratings)
    out.push({ path: 'data.movielens.ratings', message: 'required when data.source is movielens' });
  if (c.sid.method === 'file' && !c.sid.file) out.push({ path: 'sid.file', message: 'required when sid.method is file' });
  if (c.sid.codebookSize === 'auto' && c.sid.method !== 'rq-kmeans')
    out.push({ path: 'sid.codebookSize', message: '"auto" chooses the size for rq-kmeans; sid.method file takes the sizes from its file' });
  if (c.sid.embedding === 'latent' && c.sid.method === 'rq-kmeans' && c.data.source !== 'synthetic')
    out.push({ path: 'sid.embedding', message: '"latent" exists only for the synthetic world; use cf or text' });
  if (c.sasrec.dim % c.sasrec.heads !== 0) out.push({ path: 'sasrec.heads', message: `must divide sasrec.dim (${c.sasrec.dim})` });
  if (c.policy.dim % c.policy.heads !== 0)
    out.push({ path: 'policy.heads', message: `must divide policy.dim (${c.policy.dim})` });
  if (!c.eval.ks.includes(10))
    out.push({ path: 'eval.ks', message: 'must include 10: the best checkpoint of every stage is chosen by validation HR@10' });
  if (c.eval.ks.some((k) => k > c.eval.beam))
    out.push({ path: 'eval.ks', message: `every K must be <= eval.beam (${c.eval.beam}): the top-K come from the beam` });
  return out;
}
