/** What kind of mistake a {@link ConfigError} reports; decides the process exit code. */
export type ConfigErrorCode =
  /** A flag etcd does not know (`flag provided but not defined`). */
  | 'unknown-flag'
  /** Bad command-line syntax: a missing value, `---x`, a stray positional argument. */
  | 'usage'
  /** A flag, environment variable or config file key with a value that does not parse. */
  | 'invalid-value'
  /** Values that parse but do not fit together (election timeout vs heartbeat, ...). */
  | 'invalid-config'
  /** The config file cannot be read or is not YAML of the expected shape. */
  | 'config-file';

/**
 * A configuration etcd would refuse. The message names the flag (or ETCD_* variable,
 * or config file key) and the bad value, so it can be printed as is.
 *
 * `exitCode` follows etcd: 2 for command-line syntax errors caught by the flag parser
 * (unknown flag, value that does not parse), 1 for everything found after parsing.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code: ConfigErrorCode;
  /** The flag concerned, without dashes, when there is exactly one. */
  readonly flag: string | undefined;
  readonly exitCode: 1 | 2;

  constructor(message: string, options: { code: ConfigErrorCode; flag?: string; exitCode?: 1 | 2 }) {
    super(message);
    this.code = options.code;
    this.flag = options.flag;
    this.exitCode = options.exitCode ?? 1;
  }
}
