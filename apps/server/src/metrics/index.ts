/**
 * Monitoring, as etcd 3.4 serves it on the client and metrics URLs: /health and /metrics
 * (Prometheus, etcd's metric names), and the hooks the member's parts report through.
 */
export { GrpcMetrics, GRPC_CODE_NAMES } from './grpc-metrics.js';
export { HealthChecker, HEALTH_READ_TIMEOUT_MS, type HealthSources } from './health.js';
export { clientHttpHandler, metricsUrlHandler, serveHealth, serveMetrics, type MonitoringEndpoints } from './http-handlers.js';
export { ETCD_DISK_BUCKETS, MemberMetrics, type MemberMetricsOptions, type MetricsSources } from './member-metrics.js';
