/** Plain-text tables the commands print. */
import type { EvalReport } from '../runs/evalReport.js';

/** Best vs final vs the popular baseline, for the headline metrics. */
export function testTable(reports: readonly EvalReport[]): string {
  const names = ['hr@1', 'hr@10', 'ndcg@10', 'hallucination@10', 'validity', 'coverage@10'].filter((n) => n in reports[0].metrics);
  const cols = [...reports.map((r) => `${r.checkpoint} (step ${r.step})`), 'popular'];
  const w = Math.max(...cols.map((c) => c.length), 8);
  const row = (name: string, cells: string[]) => name.padEnd(18) + cells.map((c) => c.padStart(w + 2)).join('');
  return [
    row('metric', cols),
    ...names.map((n) => row(n, [...reports.map((r) => r.metrics[n].toFixed(4)), reports[0].popular[n]?.toFixed(4) ?? '-'])),
  ].join('\n');
}

