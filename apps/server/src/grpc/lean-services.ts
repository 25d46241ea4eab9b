import type { MethodDefinition, Server, ServiceDefinition } from '@grpc/grpc-js';
import { decodeViewing, etcdserverpb } from '@raftkv/api';
import { withWireBytes } from '../apply/request-codec.js';
import { serveLeanUnary, type LeanUnaryHooks } from './lean-unary.js';

/** The unary methods served on the lean path: what benchmarks and Kubernetes call most. */
const LEAN_METHODS = {
  kv: ['range', 'put', 'deleteRange', 'txn', 'compact'],
  lease: ['leaseGrant', 'leaseRevoke', 'leaseTimeToLive', 'leaseLeases'],
} as const;

type Impl = Record<string, unknown>;

/**
 * Requests whose keys and values are decoded as views of the request message instead of copies:
 * each message is bytes of its own (or of an HTTP/2 read, never reused), the handler only reads
 * them, and what outlives the call is copied (the log entry). A txn's log entry is a copy of its
 * message itself (withWireBytes): its decoded ops only serve the checks before it is proposed.
 * Not deletes: with txns and deletes decoded as views and encoded again into the entry, RSS after
 * loading 200,000 keys in txns rose ~5% (docs/profiles.md, wave 6).
 */
const VIEW_DECODED: Record<string, (b: Buffer) => unknown> = {
  put: (b) => decodeViewing(etcdserverpb.PutRequest, b),
  txn: (b) => withWireBytes(decodeViewing(etcdserverpb.TxnRequest, b), b),
};

/**
 * Puts the hot unary methods of the KV and Lease services, already added to `server` with these
 * implementations, on the lean path (see lean-unary.ts); every other method stays on grpc-js.
 */
export function serveHotMethodsLean(server: Server, services: {
  kv: { def: ServiceDefinition; impl: Impl };
  lease: { def: ServiceDefinition; impl: Impl };
}, maxReceiveMessageLength: number, hooks: LeanUnaryHooks): void {
  const methods = (['kv', 'lease'] as const).flatMap((name) => LEAN_METHODS[name].map((method) => {
    const { def, impl } = services[name];
    const requestDeserialize = name === 'kv' ? VIEW_DECODED[method] : undefined;
    const m = def[method] as MethodDefinition<unknown, unknown>;
    return { def: requestDeserialize ? { ...m, requestDeserialize } : m, impl: impl[method] as Parameters<typeof serveLeanUnary>[1][number]['impl'] };
  }));
  serveLeanUnary(server, methods, maxReceiveMessageLength, hooks);
}
