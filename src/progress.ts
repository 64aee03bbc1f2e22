/**
 * How long work reports how far it has got. Library code (data, eval, train) receives a Progress
 * and never prints; the CLI decides how to show it (src/cli/progress.ts: a bar on a terminal,
 * plain lines otherwise).
 */
export type ProgressFields = Record<string, number | string>;

export interface Progress {
  /** `step` is the number of completed units; fields are shown beside the bar (and kept until replaced). */
  update(step: number, fields?: ProgressFields): void;
  /** A line that must not be overwritten by the bar (eval results, warnings). */
  log(line: string): void;
  stop(): void;
}

/** Makes a Progress for a labelled task of `total` units; `unit` names what is counted (steps, users, MB). */
export type ProgressFactory = (label: string, total: number, unit?: string) => Progress;

/** A Progress that prints nothing (library tests). */
export const silentProgress: Progress = { update: () => {}, log: () => {}, stop: () => {} };
