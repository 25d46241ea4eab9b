import type { MethodDefinition, Server, ServiceDefinition } from '@grpc/grpc-js';
import { serveLeanUnary, type LeanUnaryHooks } from './lean-unary.js';

/** The unary methods served on the lean path: what benchmarks and Kubernetes call most. */
const LEAN_METHODS = {
  kv: ['range', 'put', 'deleteRange', 'txn', 'compact'],
  lease: ['leaseGrant', 'leaseRevoke', 'leaseTimeToLive', 'leaseLeases'],
} as const;

type Impl = Record<string, unknown>;

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
    return { def: def[method] as MethodDefinition<unknown, unknown>, impl: impl[method] as Parameters<typeof serveLeanUnary>[1][number]['impl'] };
  }));
  serveLeanUnary(server, methods, maxReceiveMessageLength, hooks);
}
