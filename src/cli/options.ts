/** Options shared by the commands that build a config. */
import { Command, Option } from 'commander';
import { BACKEND_CHOICES, initBackend, parseThreads, type BackendChoice, type BackendInfo } from '../backend.js';
import { configOverrides, configToYaml, loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { UserError } from '../errors.js';
import type { UserSample } from '../eval/evaluate.js';
import type { ProgressFactory } from '../progress.js';
import { progressFactory } from './progress.js';

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function addConfigOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'YAML config (may "extends" one base file); omitted = built-in defaults (synthetic world)')
    .option('-s, --set <key=value>', 'override one config key by dot path, e.g. --set rl.lambda=0.3 (repeatable)', collect, [])
    .addOption(new Option('--backend <name>', 'tfjs backend (default: config key "backend", auto)').choices([...BACKEND_CHOICES]))
    .option('--threads <n>', 'XNNPACK threads of the wasm backend (default: config key "threads", 1)')
    .option('--dry-run', 'print the resolved config (defaults + file + overrides) and exit');
}

export interface ConfigFlags {
  config?: string;
  set: string[];
  backend?: string;
  threads?: string;
  dryRun?: boolean;
}

export function configFromFlags(flags: ConfigFlags): Config {
  return loadConfig(flags.config, { sets: flags.set, overrides: configOverrides(flags) });
}

/** Print the resolved config for --dry-run. */
export function printConfig(config: Config): void {
  process.stdout.write(configToYaml(config));
}

/** `--no-progress` and `--log-every`: bars on a terminal, else plain lines at a fixed cadence. */
export function addProgressOptions(cmd: Command): Command {
  return cmd
    .option('--no-progress', 'plain log lines instead of progress bars (also when stderr is not a terminal)')
    .option('--log-every <seconds>', 'seconds between plain progress lines (with --no-progress or without a terminal)', '10');
}

export interface ProgressFlags {
  progress: boolean;
  logEvery: string;
}

export function progressFromFlags(flags: ProgressFlags): ProgressFactory {
  const s = Number(flags.logEvery);
  if (!Number.isFinite(s) || s < 0) throw new UserError(`--log-every expects a number of seconds >= 0, got "${flags.logEvery}"`);
  return progressFactory({ plain: !flags.progress, everyMs: s * 1000 });
}

/** `--user-sample` of the commands that evaluate an existing run (eval, stratify). */
export function userSampleOption(): Option {
  return new Option('--user-sample <how>', "which users --max-users takes: spread over the split, or the first N as evaluations before eval.userSample did (default: the run's eval.userSample)").choices([
    'spread',
    'first',
  ]);
}

/** The run's config with --user-sample applied, when given. */
export function withUserSample(config: Config, how: UserSample | undefined): Config {
  return how === undefined ? config : { ...config, eval: { ...config.eval, userSample: how } };
}

/**
 * The backend of a command that reads an existing run (eval, stratify): its --backend and
 * --threads flags where given, else the run's own config.
 */
export function runBackend(flags: { backend?: BackendChoice; threads?: string }, config: Config, log: (line: string) => void): Promise<BackendInfo> {
  return initBackend(flags.backend ?? config.backend, log, flags.threads !== undefined ? parseThreads(flags.threads) : config.threads);
}
