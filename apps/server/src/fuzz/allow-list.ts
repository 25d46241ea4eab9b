// Differences from etcd the fuzzer accepts (each says why), and requests it does not send by
// default because they hit a finding already reported (so a long run can go deeper).
import { status } from '@grpc/grpc-js';
import type { FuzzRequest } from './generate.js';
import type { Outcome } from './wire.js';

export interface Allowed {
  readonly id: string;
  readonly why: string;
  matches(method: string, etcd: Outcome, raftkv: Outcome, mutated: boolean): boolean;
}

/**
 * Kept tiny: only wording that comes from the gRPC library, not from etcd or raftkv.
 */
export const ALLOW_LIST: readonly Allowed[] = [
  {
    id: 'decode-error-wording',
    why: 'A request body that does not decode: grpc-go answers INTERNAL "grpc: error unmarshalling request: <proto error>", ' +
      'grpc-js (raftkv) answers INTERNAL with its own wording. The code is what clients act on.',
    matches: (_m, etcd, raftkv) => etcd.code === status.INTERNAL && etcd.details.startsWith('grpc: error unmarshalling request')
      && raftkv.code === status.INTERNAL,
  },
  {
    id: 'message-too-large-wording',
    why: 'A request larger than the server accepts: grpc-go says "grpc: received message larger than max (N vs. M)", ' +
      'grpc-js "Received message larger than max (N vs M)"; both RESOURCE_EXHAUSTED.',
    matches: (_m, etcd, raftkv) => etcd.code === status.RESOURCE_EXHAUSTED && raftkv.code === status.RESOURCE_EXHAUSTED
      && /larger than max/i.test(etcd.details) && /larger than max/i.test(raftkv.details),
  },
  {
    id: 'unimplemented-wording',
    why: 'A method neither server implements (AuthStatus is etcd 3.5+): grpc-go says "unknown method M for service S", grpc-js ' +
      '"The server does not implement the method /S/M"; both UNIMPLEMENTED.',
    matches: (_m, etcd, raftkv) => etcd.code === status.UNIMPLEMENTED && raftkv.code === status.UNIMPLEMENTED,
  },
];

/** Known findings (see FINDINGS.md): requests skipped unless `--no-skip-known`. */
export interface Known {
  readonly finding: string;
  matches(r: FuzzRequest): boolean;
}

const neg = (v: unknown): boolean => typeof v === 'bigint' && v < 0n;

export const KNOWN: readonly Known[] = [
  { finding: 'F1 Compact with a negative revision stops raftkv for good', matches: (r) => r.method === 'Compact' && neg(r.req['revision']) },
  {
    finding: 'F2 MemberAdd with an https:// peer URL stops raftkv for good',
    matches: (r) => r.method === 'MemberAdd' && ((r.req['peerURLs'] as string[] | undefined) ?? []).some((u) => u.startsWith('https:')),
  },
];

const rangesOf = (r: FuzzRequest): Record<string, unknown>[] => {
  const out: Record<string, unknown>[] = [];
  const walkTxn = (t: Record<string, unknown>): void => {
    for (const op of [...((t['success'] as Record<string, unknown>[]) ?? []), ...((t['failure'] as Record<string, unknown>[]) ?? [])]) {
      if (op['requestRange']) out.push(op['requestRange'] as Record<string, unknown>);
      if (op['requestTxn']) walkTxn(op['requestTxn'] as Record<string, unknown>);
    }
  };
  if (r.method === 'Range') out.push(r.req);
  if (r.method === 'Txn') walkTxn(r.req);
  return out;
};

/**
 * Requests that make etcd 3.4.23 itself panic (see FINDINGS.md, "etcd is not total"): with
 * skip-known they go to raftkv only, which must answer them with an error.
 */
export const KNOWN_ETCD_PANICS: readonly Known[] = [
  {
    finding: 'E1 etcd panics (nil sorter) on a sorted Range whose sort_target is out of range',
    matches: (r) => rangesOf(r).some((q) => {
      const t = q['sortTarget'] as number;
      const o = q['sortOrder'] as number;
      // etcd sorts ASCEND when the order is NONE and the target is not KEY; orders past DESCEND do not sort.
      return (t < 0 || t > 4) && o >= 0 && o <= 2;
    }),
  },
  {
    finding: 'E2 etcd panics (nil AlarmResponse) on an Alarm action other than GET/ACTIVATE/DEACTIVATE',
    matches: (r) => r.method === 'Alarm' && ((r.req['action'] as number) < 0 || (r.req['action'] as number) > 2),
  },
  {
    finding: 'E4 etcd exits (mvcc/backend: cannot put key into bucket (key required)) on Alarm ACTIVATE of alarm NONE',
    matches: (r) => r.method === 'Alarm' && r.req['action'] === 1 && r.req['alarm'] === 0,
  },
  {
    finding: 'E3 etcd panics (types.MustNewURLs while applying) on MemberUpdate of an existing member with no or an invalid peer URL',
    matches: (r) => r.method === 'MemberUpdate' && r.req['ID'] === 'LEARNER'
      && (((r.req['peerURLs'] as string[] | undefined) ?? []).length === 0
        || ((r.req['peerURLs'] as string[] | undefined) ?? []).some((u) => !/^https?:\/\/[a-z0-9.]+:\d{1,5}$/.test(u))),
  },
];
