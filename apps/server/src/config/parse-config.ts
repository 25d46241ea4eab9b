/**
 * parseConfig: argv + environment (or a config file) → a validated ServerConfig,
 * following etcd 3.4's precedence rules.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readCommandLine } from './command-line.js';
import { ConfigError } from './config-error.js';
import { readConfigFile } from './config-file.js';
import { ENV_PREFIXES, flagToEnv, readEnvironment } from './environment.js';
import { FLAG_NAMES, FLAGS, UNIMPLEMENTED_FLAGS, type FlagName, type FlagValues } from './flags.js';
import { buildServerConfig, type ServerConfig } from './server-config.js';
import { helpText, versionText } from './usage.js';

/**
 * What the command line asks for. `warnings` lists, one sentence each, everything
 * accepted but not acted on: flags of features raftkv does not implement yet (named),
 * legacy flags etcd ignores, unknown ETCD_* variables, unknown config file keys, and
 * flags/variables shadowed by a config file. Print them; they are never fatal.
 */
export type ParseResult =
  | { kind: 'run'; config: ServerConfig; warnings: string[] }
  | { kind: 'version'; text: string }
  | { kind: 'help'; text: string };

/** I/O that parseConfig needs, injectable for tests. */
export interface ParseConfigOptions {
  /** Reads the config file (default: `fs.readFileSync(path, 'utf8')`). */
  readFile?: (path: string) => string;
  /**
   * True when `dataDir` already holds a member. Like etcd, the bootstrap checks
   * (this member listed in --initial-cluster with matching peer URLs) apply only to a
   * fresh data dir. Default: `<dataDir>/member` exists.
   */
  isDataDirInitialized?: (dataDir: string) => boolean;
}

/**
 * Parses etcd-style arguments (without the program name) and environment.
 *
 * Precedence, as in etcd 3.4: a config file (`--config-file`, else `ETCD_CONFIG_FILE`)
 * replaces every other flag and variable; otherwise each flag comes from the command
 * line, else from `ETCD_<FLAG>` / `RAFTKV_<FLAG>`, else etcd's default. A flag given
 * both ways is an error, as in etcd.
 *
 * @throws {ConfigError} unknown flag, bad syntax, a value that does not parse, or a
 *   configuration etcd would refuse; the message names the flag and the value, and
 *   `exitCode` is the one etcd would exit with.
 */
export function parseConfig(argv: string[], env: Record<string, string | undefined>, options: ParseConfigOptions = {}): ParseResult {
  const commandLine = readCommandLine(argv);
  if (commandLine.help) return { kind: 'help', text: helpText() };
  if (commandLine.set.has('version') && FLAGS.version.schema.parse(commandLine.set.get('version') ?? 'false')) {
    return { kind: 'version', text: versionText() };
  }

  const warnings = commandLine.ignoredLegacy.map((name) => `flag "--${name}" is no longer supported by etcd; ignored`);
  const configFile = commandLine.set.get('config-file') || firstNonEmpty(env, ENV_PREFIXES.map((p) => flagToEnv(p, 'config-file'))) || '';

  let texts: Map<FlagName, string>;
  if (configFile !== '') {
    const readFile = options.readFile ?? ((path: string) => readFileSync(path, 'utf8'));
    let content: string;
    try {
      content = readFile(configFile);
    } catch (error) {
      throw new ConfigError(`cannot read config file ${configFile}: ${error instanceof Error ? error.message : String(error)}`, {
        code: 'config-file',
        flag: 'config-file',
      });
    }
    const file = readConfigFile(configFile, content);
    texts = file.set;
    warnings.push(...file.warnings);
    const shadowedFlags = [...commandLine.set.keys()].filter((n) => n !== 'config-file' && n !== 'version').map((n) => `--${n}`);
    const shadowedVariables = Object.keys(env).filter(
      (k) => env[k] !== undefined && ENV_PREFIXES.some((p) => k.startsWith(`${p}_`)) && !k.endsWith('_CONFIG_FILE'),
    );
    const shadowed = [...shadowedFlags, ...shadowedVariables];
    if (shadowed.length > 0) {
      warnings.push(`config file ${configFile} is used, so these flags and environment variables are ignored: ${shadowed.join(', ')}`);
    }
  } else {
    const fromEnv = readEnvironment(env, new Set(commandLine.set.keys()));
    warnings.push(...fromEnv.warnings);
    texts = new Map(commandLine.set);
    for (const [name, { text }] of fromEnv.set) texts.set(name, text);
  }

  const values = {} as Record<FlagName, unknown>;
  for (const name of FLAG_NAMES) {
    const spec = FLAGS[name];
    const text = texts.get(name);
    // Every text here was checked by the reader that collected it; defaults parse by
    // construction. An empty URL list keeps the default but still counts as given,
    // which is what etcd's UniqueURLs does with ''.
    const effective = text === undefined || (text === '' && spec.kind === 'urls') ? spec.defaultText : text;
    values[name] = spec.schema.parse(effective);
    const feature = UNIMPLEMENTED_FLAGS[name];
    if (text !== undefined && feature !== undefined && !sameValue(values[name], spec.schema.parse(spec.defaultText))) {
      warnings.push(`--${name}=${text} is not supported by raftkv yet (${feature}); it has no effect`);
    }
  }
  if (texts.has('debug')) warnings.push('--debug is deprecated; use --log-level=debug');
  if (texts.has('log-output')) warnings.push('--log-output is deprecated; use --log-outputs');
  if (texts.get('logger') === 'capnslog') warnings.push("Deprecated '--logger=capnslog' flag is set; use '--logger=zap' flag instead");

  const config = buildServerConfig(values as FlagValues, {
    source: configFile === '' ? 'command-line' : 'config-file',
    configFile,
    explicit: new Set(texts.keys()),
    initialClusterText: texts.get('initial-cluster') ?? FLAGS['initial-cluster'].defaultText,
    isDataDirInitialized: options.isDataDirInitialized ?? ((dataDir) => existsSync(join(dataDir, 'member'))),
    warn: (message) => warnings.push(message),
  });
  return { kind: 'run', config, warnings };
}

function firstNonEmpty(env: Record<string, string | undefined>, keys: readonly string[]): string | undefined {
  for (const key of keys) {
    const value = env[key];
    if (value !== undefined && value !== '') return value;
  }
  return undefined;
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
