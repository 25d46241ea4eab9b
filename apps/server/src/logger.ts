/** Log levels as etcd names them. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'panic' | 'fatal';
const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, panic: 4, fatal: 5 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString(16);
  if (value instanceof Error) return value.message;
  return value;
}

/** JSON lines on stderr, shaped like etcd's zap logger output, so log tooling reads both. */
export function createLogger(level: LogLevel, write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const min = RANK[level];
  const emit = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (RANK[lvl] < min) return;
    write(JSON.stringify({ level: lvl, ts: new Date().toISOString(), msg, ...fields }, replacer) + '\n');
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}
