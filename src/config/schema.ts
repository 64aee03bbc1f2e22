/**
 * The one config schema: types, defaults and validation in one place (zod). Every object is
 * strict, so an unknown key is an error reported with its dot path. DESIGN.md sections 2-6 give
 * the meaning of each key; defaults below are DESIGN's.
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
  /** The world's own seed: fixed while the run seed varies, so seeds measure training variance. */
  seed: int(0, 2 ** 31 - 1).default(0),
  numItems: int(20).default(1000),
  numUsers: int(10).default(2000),
  /** Dimension of the latent item/user space. */
  dim: int(2, 256).default(16),
  numCategories: int(1).default(20),
  /** Spread of items around their category centre (category centres have unit scale). */
  categorySpread: posNum().default(0.35),
  /** Zipf exponent of base item popularity. */
  zipf: z.number().min(0).max(3).default(1.0),
  /** Share of items that are fresh: late arrivals with little exposure. */
  freshShare: prob().default(0.15),
  /** Preferred categories per user. */
  categoriesPerUser: int(1).default(3),
  minSeqLen: int(3).default(5),
  maxSeqLen: int(3).default(20),
  /** Next-item logit = a*user.item + b*last.item + c*log(popularity). */
  a: z.number().default(3.0),
  b: z.number().default(1.5),
  c: z.number().default(0.5),
  /** Logging policy: exposure ∝ popularity^alpha. */
  exposureAlpha: z.number().min(0).max(3).default(1.0),
  /** Items shown per logged impression. */
  impressionSize: int(2, 100).default(10),
  /** Click probability = sigmoid(clickScale * (utility - clickBias)). */
  clickScale: posNum().default(2.0),
  clickBias: z.number().default(1.0),
});

export const dataSchema = section({
  source: z.enum(['synthetic', 'csv', 'sequences-json', 'movielens']).default('synthetic'),
  /** Name used for the processed-data cache folder; defaults to the source. */
  name: z.string().min(1).optional(),
  processedDir: z.string().min(1).default('data/processed'),
  /** k-core filter: repeat dropping users and items with fewer than k interactions; 0 disables. */
  kcore: int(0).default(5),
  synthetic: syntheticSchema,
  csv: section({
    path: z.string().min(1).optional(),
    userColumn: z.string().min(1).default('user'),
    itemColumn: z.string().min(1).default('item'),
    timestampColumn: z.string().min(1).default('timestamp'),
    delimiter: z.string().min(1).max(1).default(','),
    /** Optional item table with text columns (for `sid.embedding: text`). */
    itemsPath: z.string().min(1).optional(),
    itemIdColumn: z.string().min(1).default('item'),
    textColumns: z.array(z.string().min(1)).default(['title']),
  }),
  sequencesJson: section({
    /** `*.inter.json`: {"<user>": [item, ...]} in time order. */
    inter: z.string().min(1).optional(),
    /** `*.item.json`: {"<item>": {title, description, ...}}. */
    item: z.string().min(1).optional(),
  }),
  movielens: section({
    /** `ratings.dat` (user::item::rating::ts) or `ratings.csv` (userId,movieId,rating,timestamp). */
    ratings: z.string().min(1).optional(),
    movies: z.string().min(1).optional(),
    /** Keep ratings >= this as interactions; 0 keeps all. */
    minRating: z.number().min(0).default(0),
  }),
});

export const sidSchema = section({
  method: z.enum(['rq-kmeans', 'file']).default('rq-kmeans'),
  /** Item embedding clustered by rq-kmeans; `latent` is the synthetic world's true item vectors. */
  embedding: z.enum(['cf', 'text', 'latent']).default('cf'),
  levels: int(1, 8).default(3),
  codebookSize: int(2, 4096).default(256),
  kmeansIters: int(1).default(25),
  /** Dimension of the SVD embedding for `cf` and `text`. */
  embeddingDim: int(2, 512).default(32),
  /** Seed of k-means++ init and SVD: IDs are data preprocessing, shared by every run seed. */
  seed: int(0, 2 ** 31 - 1).default(0),
  /** `*.index.json` for `method: file`. */
  file: z.string().min(1).optional(),
});

export const policySchema = section({
  layers: int(1, 24).default(2),
  dim: int(8, 2048).default(64),
  heads: int(1, 64).default(2),
  dropout: z.number().min(0).max(0.9).default(0.1),
  /** Items of history in the prompt. */
  maxHistory: int(1, 200).default(20),
  tieEmbeddings: z.boolean().default(true),
});

const schedule = {
  lr: posNum().default(1e-3),
  weightDecay: z.number().min(0).default(0.01),
  warmupSteps: int(0).default(50),
  /** Cosine decay ends at lr * minLrRatio. */
  minLrRatio: z.number().min(0).max(1).default(0.1),
  gradClip: z.number().min(0).default(1.0),
};

export const sftSchema = section({
  steps: int(0).default(1000),
  /** Sequences per step. */
  batchSize: int(1).default(64),
  targets: z.enum(['all', 'last']).default('all'),
  ...schedule,
  /** Save a checkpoint every this many steps (and at the end). */
  checkpointEvery: int(1).default(500),
});

export const rankerSchema = section({
  dim: int(4, 1024).default(32),
  hidden: int(4, 4096).default(64),
  encoder: z.enum(['attention', 'pooling']).default('attention'),
  maxHistory: int(1, 200).default(20),
  steps: int(0).default(1000),
  batchSize: int(1).default(256),
  ...schedule,
  /** Real logs: negatives drawn ∝ popularity^exposureBias (0 = uniform). */
  exposureBias: z.number().min(0).max(3).default(1.0),
  negativesPerPositive: int(1, 100).default(4),
  checkpointEvery: int(1).default(500),
});

export const rewardSchema = section({
  /** Reward of a generated tuple that is no catalog item. */
  invalid: z.number().default(-1),
  /** Bonus when the rollout is the ground-truth item. */
  hit: z.number().default(0),
});

export const ALGORITHMS = ['nll', 'grpo', 'grpo+nll', 'adagrpo', 'random-gate', 'hard-only', 'disc-only'] as const;

export const rlSchema = section({
  algorithm: z.enum(ALGORITHMS).default('adagrpo'),
  steps: int(0).default(200),
  /** Prompts per step. */
  batchSize: int(1).default(32),
  /** G: rollouts per prompt. */
  numGenerations: int(2, 256).default(8),
  temperature: posNum().default(1.0),
  /** PPO clip range. */
  epsilon: z.number().min(0).max(1).default(0.2),
  /** Weight of the k3 KL to the frozen SFT policy. */
  beta: z.number().min(0).default(0),
  ppoEpochs: int(1, 16).default(1),
  /** λ: weight of the gated GRPO term. */
  lambda: z.number().min(0).default(1.0),
  ...schedule,
  lr: posNum().default(1e-4),
  warmupSteps: int(0).default(10),
  randomGate: section({
    /** Admission probability of the random-gate control. */
    p: prob().default(0.12),
    /** Run folder whose mean admission rate sets p (overrides p). */
    matchRun: z.string().min(1).optional(),
  }),
  checkpointEvery: int(1).default(100),
});

export const gateSchema = section({
  difficulty: section({
    statistic: z.enum(['gtRank', 'gtProb', 'hitRate', 'entropy']).default('gtRank'),
    tau: z.number().min(0).default(0.5),
  }),
  discriminability: section({
    rho: prob().default(0.8),
    /** M: ground-truth items of other samples in the batch used as extra negatives. */
    inBatchNegatives: int(0, 1000).default(5),
  }),
});

export const evalSchema = section({
  /** Validate every this many training steps. */
  every: int(1).default(200),
  beam: int(1, 1000).default(20),
  ks: z.array(int(1, 1000)).min(1).default([1, 5, 10, 20]),
  constrained: z.boolean().default(false),
  /** Evaluate on at most this many users (0 = all); validation during training uses this. */
  maxUsers: int(0).default(0),
  batchSize: int(1).default(256),
});

export const configSchema = z.strictObject({
  name: z
    .string()
    .min(1)
    .regex(/^[A-Za-z0-9._+-]+$/, 'use letters, digits and . _ + - only (it names a folder)')
    .default('run'),
  seed: int(0, 2 ** 31 - 1).default(1),
  backend: z.enum(['auto', 'tensorflow', 'wasm', 'cpu']).default('auto'),
  runsDir: z.string().min(1).default('runs'),
  data: dataSchema,
  sid: sidSchema,
  policy: policySchema,
  sft: sftSchema,
  ranker: rankerSchema,
  reward: rewardSchema,
  rl: rlSchema,
  gate: gateSchema,
  eval: evalSchema,
});

export type Config = z.output<typeof configSchema>;
export type DataConfig = Config['data'];
export type SyntheticConfig = DataConfig['synthetic'];
export type SidConfig = Config['sid'];
export type PolicyConfig = Config['policy'];
export type SftConfig = Config['sft'];
export type RankerConfig = Config['ranker'];
export type RlConfig = Config['rl'];
export type GateConfig = Config['gate'];
export type EvalConfig = Config['eval'];
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
  if (c.data.source === 'movielens' && !c.data.movielens.ratings)
    out.push({ path: 'data.movielens.ratings', message: 'required when data.source is movielens' });
  if (c.sid.method === 'file' && !c.sid.file) out.push({ path: 'sid.file', message: 'required when sid.method is file' });
  if (c.sid.embedding === 'latent' && c.sid.method === 'rq-kmeans' && c.data.source !== 'synthetic')
    out.push({ path: 'sid.embedding', message: '"latent" exists only for the synthetic world; use cf or text' });
  if (c.policy.dim % c.policy.heads !== 0)
    out.push({ path: 'policy.heads', message: `must divide policy.dim (${c.policy.dim})` });
  if (c.eval.ks.some((k) => k > c.eval.beam))
    out.push({ path: 'eval.ks', message: `every K must be <= eval.beam (${c.eval.beam}): the top-K come from the beam` });
  return out;
}
