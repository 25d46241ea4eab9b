// Fault injection on loopback TCP for cluster fault tests: a proxy per member, partitions over them.
export { FaultProxy } from './fault-proxy.js';
export type { FaultProxyLimits, FaultProxyOptions, FaultProxyStats, ProxyMode } from './fault-proxy.js';
export { Partition } from './partition.js';
export type { PartitionMember, PartitionOptions } from './partition.js';
export { firstOrigin, originByProcess, originByRemoteAddress } from './connection-origin.js';
export type { OriginResolver } from './connection-origin.js';
