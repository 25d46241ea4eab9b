/**
 * Server configuration: etcd 3.4's flags, ETCD_* environment variables and YAML
 * config file, validated with etcd's rules, so raftkv starts wherever `etcd` does.
 */
export { parseConfig, type ParseResult, type ParseConfigOptions } from './parse-config.js';
export { ConfigError, type ConfigErrorCode } from './config-error.js';
export type { ServerConfig, TlsConfig, PeerTlsConfig } from './server-config.js';
export type { InitialClusterMember } from './go-values.js';
export { RAFTKV_VERSION, ETCD_API_VERSION } from './usage.js';
