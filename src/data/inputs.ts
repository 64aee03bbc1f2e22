/**
 * Data and semantic IDs for a config: both cached on disk (data/processed/...), so every command
 * that needs them (train, eval, stratify, data inspect) calls this and pays only a load.
 */
import type { ProgressFactory } from '../progress.js';
import type { Config } from '../config/schema.js';
import { prepareData } from './prepare.js';
import { buildSemanticIds } from './sid/build.js';
import type { SemanticIds } from './sid/types.js';
import type { Dataset, DataManifest, Splits } from './types.js';

export interface PreparedInputs {
  dataset: Dataset;
  splits: Splits;
  manifest: DataManifest;
  /** Processed-data cache folder of this dataset. */
  dataDir: string;
  sids: SemanticIds;
  /** Hash identifying the SIDs (data hash + sid config). */
  sidHash: string;
}

export async function prepareInputs(config: Config, log: (line: string) => void = () => {}, progress?: ProgressFactory): Promise<PreparedInputs> {
  const data = await prepareData(config.data, { log, progress });
  const { sids, hash } = await buildSemanticIds(
    config.sid,
    { dataset: data.dataset, splits: data.splits, dataHash: data.manifest.hash, cacheDir: data.dir },
    log,
    progress,
  );
  return {
    dataset: data.dataset,
    splits: data.splits,
    manifest: data.manifest,
    dataDir: data.dir,
    sids,
    sidHash: hash,
  };
}
