/** The stage implementations the pipeline runs; a stage that is not built yet is absent. */
import type { PipelineOptions } from '../train/pipeline.js';

export function stageRunners(): PipelineOptions['stages'] {
  return {};
}
