// Differences from etcd the fuzzer accepts (each says why), and requests it does not send by
// default because they hit a finding already reported (so a long run can go deeper).
import { status } from '@grpc/grpc-js';
import type { FuzzRequest } from './generate.js';
import type { StreamDiff } from './stream-compare.js';
import type { Outcome } from './wire.js';

export interface Allowed {
  readonly id: string;
  readonly why: string;
  matches(method: string, etcd: Outcome, raftkv: Outcome, mutated: boolean, req?: Record<string, unknown>): boolean;
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
  {
    id: 'not-built-yet',
    why: 'Auth and Defragment were not built yet (the security and operations issues); raftkv said ' +
      'so instead of pretending. (Lock and Election are served since the client issue.)',
    matches: (m, _etcd, raftkv) => raftkv.code === status.UNIMPLEMENTED && NOT_BUILT_METHODS.has(m),
  },
  {
    id: 'https-peer-url',
    why: 'etcd adds a member with an https:// peer URL and dials it over TLS; raftkv has no peer TLS yet and refuses it ' +
      'before proposing (docs/compatibility.md), rather than add a member it can never reach.',
    matches: (m, _etcd, raftkv) => (m === 'MemberAdd' || m === 'MemberUpdate') && raftkv.code === status.FAILED_PRECONDITION
      && raftkv.details.startsWith('raftkv: https peer URLs need peer TLS'),
  },
  {
    id: 'stricter-decode-of-mutated-bytes',
    why: 'Corrupted bytes that gogo skips and raftkv refuses: an unknown group whose END_GROUP tag has another field ' +
      'number than its start (0 or any other: gogo\'s skipRpc ends a group at any END_GROUP), so etcd may even act on ' +
      'the request. raftkv answers INTERNAL "Error deserializing request" and acts on nothing; valid requests are never ' +
      'affected (generated ones are compared without this entry). Had etcd changed state, the keyspace check reports it.',
    matches: (_m, _etcd, raftkv, mutated) => mutated && raftkv.code === status.INTERNAL
      && raftkv.details.startsWith('Error deserializing request'),
  },
  {
    id: 'peer-url-port-over-65535',
    why: "Go's URL parser takes any digits as a port, so etcd accepts http://host:99999 as a peer URL (and, for a voter, " +
      'loses its quorum to a member no one can dial); raftkv refuses it as an invalid member URL (docs/compatibility.md).',
    matches: (m, _etcd, raftkv, _mutated, req) => (m === 'MemberAdd' || m === 'MemberUpdate')
      && raftkv.code === status.INVALID_ARGUMENT && raftkv.details === 'etcdserver: given member URLs are invalid'
      && ((req?.['peerURLs'] as string[] | undefined) ?? []).some((u) => Number(/:(\d+)$/.exec(u)?.[1] ?? 0) > 65_535),
  },
  {
    id: 'unknown-sort-target-beside-another-error',
    why: 'FINDINGS F8b, docs/compatibility.md: a range (or a txn holding one) with a sort target etcd 3.4 does not know ' +
      'and another error (a compacted or future revision, a missing lease): etcd reports the other error (it would ' +
      'panic on the sort), raftkv refuses the sort option first, before proposing. Only corrupted bytes reach this: ' +
      'generated requests with an unknown sort target go to raftkv only (KNOWN_ETCD_PANICS). A txn whose bad range is ' +
      'in the branch it does not take is even run by etcd.',
    matches: (m, etcd, raftkv) => (m === 'Txn' || (m === 'Range' && etcd.code !== status.OK))
      && raftkv.code === status.INVALID_ARGUMENT && raftkv.details === 'etcdserver: invalid sort option',
  },
  {
    id: 'txn-ignore-flag-after-delete-with-missing-lease',
    why: 'A txn put with ignore_value/ignore_lease of a key deleted earlier in the same txn (etcd panics applying it when ' +
      'the rest is valid: docs/compatibility.md) and a lease that does not exist: etcd checks the key against the state ' +
      'before the txn (it exists), then the lease ("requested lease not found"); raftkv refuses the key first ("key not ' +
      'found"). Both refuse the txn; only which refusal differs.',
    matches: (m, etcd, raftkv) => m === 'Txn' && etcd.code === status.NOT_FOUND && etcd.details === 'etcdserver: requested lease not found'
      && raftkv.code === status.INVALID_ARGUMENT && raftkv.details === 'etcdserver: key not found',
  },
];

/** A difference in a compared stream (stream-compare.ts) that the fuzzer accepts, and why. */
export interface StreamAllowed {
  readonly id: string;
  readonly why: string;
  matches(stream: 'Watch' | 'LeaseKeepAlive', diff: StreamDiff, mutated: boolean): boolean;
}

export const STREAM_ALLOW_LIST: readonly StreamAllowed[] = [
  {
    id: 'watch-negative-start-revision',
    why: 'etcd 3.4 compares a negative start revision with its compacted revision (-1 when never compacted): the ' +
      'watcher is canceled as compacted, or replays all history at exactly -1; raftkv watches from the next ' +
      'revision, as for 0 (docs/compatibility.md).',
    matches: (_s, d) => d.create !== undefined && d.create.startRevision < 0n,
  },
  {
    id: 'etcd-drops-compacted-responses-beyond-its-channel',
    why: 'etcd 3.4 sends the compacted response of an unsynced watcher only if it fits the stream\'s 128-slot channel ' +
      '(mvcc chanBufLen); a watcher whose response does not fit is moved to the synced group at the current revision ' +
      '(syncWatchers) and is never told it was compacted: it gets live events instead. With many watchers created ' +
      'below the compacted revision at once, which ones depends on how fast etcd drains the channel. raftkv answers ' +
      'every such watcher with its compacted response.',
    matches: (_s, d) => d.compactedOnlyOn === 'raftkv' && (d.compactedWatchers ?? 0) > 64,
  },
  {
    id: 'etcd-repeats-compacted-responses',
    why: 'With more unsynced watchers than etcd 3.4 syncs in one round (512), it works on a copy of the group: a ' +
      'compacted watcher is deleted from the copy, not from the unsynced group, and gets its compacted response again ' +
      'in a later round. raftkv sends it once.',
    matches: (_s, d) => d.compactedCounts !== undefined && d.compactedCounts[1] === 1 && d.compactedCounts[0] > 1
      && (d.compactedWatchers ?? 0) > 64,
  },
  {
    id: 'stream-decode-error-wording',
    why: 'A stream message that does not decode ends the stream with INTERNAL on both: grpc-go says "grpc: failed to ' +
      'unmarshal the received message <proto error>", grpc-js (raftkv) "Error deserializing request".',
    matches: (_s, d) => d.end !== undefined && d.end.etcd?.code === status.INTERNAL && d.end.raftkv?.code === status.INTERNAL
      && d.end.etcd.details.startsWith('grpc: failed to unmarshal the received message'),
  },
  {
    id: 'stream-ok-wording',
    why: 'A stream the server ends with OK (LeaseKeepAlive after a half-close): grpc-go sends no status message, grpc-js ' +
      'sends "OK". Clients read the code.',
    matches: (_s, d) => d.end !== undefined && d.end.etcd?.code === status.OK && d.end.raftkv?.code === status.OK,
  },
];

/** Methods of services raftkv does not serve yet (see 'not-built-yet'). */
const NOT_BUILT_METHODS = new Set(['Defragment']);

/** Known findings (see FINDINGS.md): requests skipped unless `--no-skip-known`. */
export interface Known {
  readonly finding: string;
  matches(r: FuzzRequest): boolean;
}

export const KNOWN: readonly Known[] = [
  // F1 (Compact with a negative revision) and F2 (MemberAdd with an https:// peer URL) stopped
  // raftkv for good; both are fixed and sent again.
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
 * Requests on which a 3-member etcd 3.4.23 cluster diverges (FINDINGS E5): a write txn holding a
 * range at an explicit revision. Members that did not propose the entry strip the txn's ranges
 * before applying it (removeNeedlessRangeReqs), so only the proposer checks that revision: with a
 * compacted or future one, the proposer refuses the txn and the others apply its writes. With
 * --cluster (and skip-known) these are sent to neither side.
 */
export const KNOWN_ETCD_CLUSTER_DIVERGENCE: readonly Known[] = [
  {
    finding: 'E5 a 3-member etcd diverges on a write txn with a range at a revision the proposer refuses',
    matches: (r) => r.method === 'Txn' && rangesOf(r).some((q) => (q['revision'] as bigint | undefined ?? 0n) !== 0n) && hasWrite(r.req),
  },
];

function hasWrite(t: Record<string, unknown>): boolean {
  return [...((t['success'] as Record<string, unknown>[]) ?? []), ...((t['failure'] as Record<string, unknown>[]) ?? [])]
    .some((op) => op['requestPut'] !== undefined || op['requestDeleteRange'] !== undefined || (op['requestTxn'] !== undefined && hasWrite(op['requestTxn'] as Record<string, unknown>)));
}

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
    // The bucket key is the AlarmMember's protobuf bytes: empty only for member 0 (etcd stores NONE for any other member).
    finding: 'E4 etcd exits (mvcc/backend: cannot put key into bucket (key required)) on Alarm ACTIVATE of alarm NONE for member 0',
    matches: (r) => r.method === 'Alarm' && r.req['action'] === 1 && r.req['alarm'] === 0 && r.req['memberID'] === 0n,
  },
  {
    finding: 'E3 etcd panics (types.MustNewURLs while applying) on MemberUpdate of an existing member with no or an invalid peer URL',
    matches: (r) => r.method === 'MemberUpdate' && r.req['ID'] === 'LEARNER'
      && (((r.req['peerURLs'] as string[] | undefined) ?? []).length === 0
        || ((r.req['peerURLs'] as string[] | undefined) ?? []).some((u) => !/^https?:\/\/[a-z0-9.]+:\d{1,5}$/.test(u))),
  },
];
