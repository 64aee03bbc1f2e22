/** The stage implementations the pipeline runs. */
import type { PipelineOptions } from '../train/pipeline.js';
import { trainRanker } from '../train/ranker.js';
import { trainRl } from '../train/rl.js';
import { trainSft } from '../train/sft.js';

export function stageRunners(): PipelineOptions['stages'] {
  return {
    sft: async (ctx) => ({ ...(await trainSft(ctx)) }),
    ranker: async (ctx) => ({ ...(await trainRanker(ctx)) }),
    rl: async (ctx) => ({ ...(await trainRl(ctx)) }),
  };
}
