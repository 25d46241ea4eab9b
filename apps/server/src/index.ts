/**
 * @raftkv/server — run raftkv inside a Node process. `parseConfig` takes etcd's flags,
 * `startServer` recovers the data dir and serves the etcd v3 API until `close()`.
 */
export { parseConfig, ConfigError, type ServerConfig, type ParseResult } from './config/index.js';
export { startServer, type RunningServer } from './server.js';
export { createLogger, type Logger, type LogLevel } from './logger.js';
