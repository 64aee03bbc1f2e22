/** Options shared by the commands that build a config. */
import { Command, Option } from 'commander';
import { BACKEND_CHOICES } from '../backend.js';
import { configToYaml, loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function addConfigOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'YAML config (may "extends" one base file); omitted = built-in defaults (synthetic world)')
    .option('-s, --set <key=value>', 'override one config key by dot path, e.g. --set rl.lambda=0.3 (repeatable)', collect, [])
    .addOption(new Option('--backend <name>', 'tfjs backend (default: config key "backend", auto)').choices([...BACKEND_CHOICES]))
    .option('--dry-run', 'print the resolved config (defaults + file + overrides) and exit');
}

export interface ConfigFlags {
  config?: string;
  set: string[];
  backend?: string;
  dryRun?: boolean;
}

export function configFromFlags(flags: ConfigFlags): Config {
  return loadConfig(flags.config, { sets: flags.set, overrides: { backend: flags.backend } });
}

/** Print the resolved config for --dry-run. */
export function printConfig(config: Config): void {
  process.stdout.write(configToYaml(config));
}
