/**
 * The command line, read the way Go's `flag` package reads etcd's: `-flag` and
 * `--flag` alike, `--flag=value` or `--flag value`, booleans only as `--flag` or
 * `--flag=value`, `--` ends the flags, and the first non-flag argument stops parsing
 * (etcd then rejects it). Values are checked as they are met, so the first bad one
 * is the one reported.
 */
import { ConfigError } from './config-error.js';
import { FLAGS, IGNORED_LEGACY_FLAGS, isFlagName, type FlagName } from './flags.js';

/** Upper bound on argv length: a limit on everything. */
export const MAX_ARGS = 4096;

export interface CommandLine {
  /** Raw text of each flag given, the last occurrence winning as in Go. */
  readonly set: Map<FlagName, string>;
  /** Legacy flags etcd ignores, in the order given. */
  readonly ignoredLegacy: string[];
  /** `-h`, `-help` or `--help` was met before any error. */
  readonly help: boolean;
}

/** Reads argv (without the program name). Throws {@link ConfigError} like etcd's parser. */
export function readCommandLine(argv: readonly string[]): CommandLine {
  if (argv.length > MAX_ARGS) {
    throw new ConfigError(`too many command-line arguments (${argv.length}, at most ${MAX_ARGS})`, { code: 'usage', exitCode: 2 });
  }
  const set = new Map<FlagName, string>();
  const ignoredLegacy: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i] ?? '';
    if (arg.length < 2 || !arg.startsWith('-')) break;
    i++;
    if (arg === '--') break;
    const body = arg.startsWith('--') ? arg.slice(2) : arg.slice(1);
    if (body === '' || body.startsWith('-') || body.startsWith('=')) {
      throw new ConfigError(`bad flag syntax: ${arg}`, { code: 'usage', exitCode: 2 });
    }
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    const inline = eq < 0 ? undefined : body.slice(eq + 1);

    if (IGNORED_LEGACY_FLAGS.includes(name)) {
      ignoredLegacy.push(name);
      continue;
    }
    if (!isFlagName(name)) {
      if (name === 'h' || name === 'help') return { set, ignoredLegacy, help: true };
      throw new ConfigError(`flag provided but not defined: --${name} (see 'raftkv --help')`, { code: 'unknown-flag', flag: name, exitCode: 2 });
    }
    const spec = FLAGS[name];
    let text: string;
    if (spec.kind === 'bool') {
      text = inline ?? 'true';
    } else if (inline !== undefined) {
      text = inline;
    } else if (i < argv.length) {
      // Like Go, the next argument is the value even when it starts with a dash.
      text = argv[i] ?? '';
      i++;
    } else {
      throw new ConfigError(`flag needs an argument: --${name}`, { code: 'usage', flag: name, exitCode: 2 });
    }
    const parsed = spec.schema.safeParse(text);
    if (!parsed.success) {
      const reason = parsed.error.issues[0]?.message ?? 'parse error';
      const what = spec.kind === 'bool' ? `invalid boolean value "${text}" for --${name}` : `invalid value "${text}" for flag --${name}`;
      throw new ConfigError(`${what}: ${reason}`, { code: 'invalid-value', flag: name, exitCode: 2 });
    }
    set.set(name, text);
  }
  if (i < argv.length) {
    throw new ConfigError(`'${argv[i] ?? ''}' is not a valid flag`, { code: 'usage', exitCode: 1 });
  }
  return { set, ignoredLegacy, help: false };
}
