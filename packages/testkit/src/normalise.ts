// Turns gRPC responses and errors into plain comparable values: bigints and bytes as strings,
// and the header fields that differ between two clusters by nature set to zero.
import type { ServiceError } from '@grpc/grpc-js';

function plain(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return Buffer.from(value).toString('latin1');
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = plain(v);
    return out;
  }
  return value;
}

/** A response with cluster_id, member_id and raft_term of its top-level header zeroed. */
export function normaliseResponse(res: unknown): unknown {
  const out = plain(res) as Record<string, unknown>;
  const header = out['header'] as Record<string, unknown> | undefined;
  if (header) out['header'] = { ...header, clusterId: '0', memberId: '0', raftTerm: '0' };
  return out;
}

export function normaliseError(err: unknown): { code: unknown; details: unknown } {
  const e = err as Partial<ServiceError>;
  return { code: e.code, details: e.details };
}

/** Runs a call and returns its normalised outcome, success or error alike. */
export async function outcome(p: Promise<unknown>): Promise<{ ok: unknown } | { error: unknown }> {
  try {
    return { ok: normaliseResponse(await p) };
  } catch (err) {
    return { error: normaliseError(err) };
  }
}
