/**
 * etcd 3.4's HTTP/JSON gateway (grpc-gateway v1) on the client URLs: POST /v3/... calls this
 * member's own gRPC server over in-memory connections and answers in grpc-gateway's JSON.
 */
export { Gateway, goServeMux, type GatewayOptions } from './gateway.js';
