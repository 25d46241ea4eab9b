/**
 * The client front door: every client and metrics listen URL, one component. It accepts
 * connections, terminates TLS (when the security work supplies certificates), routes gRPC to
 * the gRPC server and HTTP to an HTTP handler, and enforces the connection limits.
 */
export { openFrontDoor, type FrontDoor, type FrontDoorOptions, type HttpHandlers, type HttpUpgradeHandler, type TlsContextProvider, type TlsServerSettings } from './front-door.js';
export { etcdClientHttpDefaults, notFound, ETCD_VERSIONS, type HttpHandler, type HttpRequest, type HttpResponse } from './http-defaults.js';
export { DEFAULT_FRONT_DOOR_LIMITS, grpcServerOptions, resolveLimits, type FrontDoorLimits } from './limits.js';
export type { DoorStats } from './authority-relay.js';
