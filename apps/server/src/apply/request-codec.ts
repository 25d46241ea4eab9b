import { BinaryWriter, decodeViewing, etcdserverpb } from '@raftkv/api';

/**
 * What one log entry asks the apply loop to do. Entries carry the client's request exactly as
 * it came over the wire (protobuf bytes), behind a kind byte and the proposing member's request
 * ID, so replay after a crash applies the very same bytes.
 */
export type InternalRequest =
  | { kind: 'put'; id: bigint; put: etcdserverpb.PutRequest }
  | { kind: 'deleteRange'; id: bigint; deleteRange: etcdserverpb.DeleteRangeRequest }
  | { kind: 'txn'; id: bigint; txn: etcdserverpb.TxnRequest }
  | { kind: 'compaction'; id: bigint; compaction: etcdserverpb.CompactionRequest }
  | { kind: 'leaseGrant'; id: bigint; leaseGrant: etcdserverpb.LeaseGrantRequest }
  | { kind: 'leaseRevoke'; id: bigint; leaseRevoke: etcdserverpb.LeaseRevokeRequest }
  | { kind: 'leaseCheckpoint'; id: bigint; leaseCheckpoint: etcdserverpb.LeaseCheckpointRequest }
  /** A started member publishes its name and client URLs (etcd's publish); ID, name and clientURLs are used. */
  | { kind: 'memberAttributes'; id: bigint; member: etcdserverpb.Member }
  /** Raises, clears (or lists) an alarm: every member's alarm store changes at the same index. */
  | { kind: 'alarm'; id: bigint; alarm: etcdserverpb.AlarmRequest }
  /** A change to (or read of) the auth store; see {@link AuthRequest}. */
  | { kind: 'auth'; id: bigint; auth: AuthRequest };

/**
 * Auth store requests, one log entry kind each. Passwords never enter the log: userAdd and
 * userChangePassword carry the bcrypt hash (`hashedPassword`, `password` empty), and
 * authenticate carries, in `password`, the random part of the simple token (etcd's
 * InternalAuthenticateRequest.simple_token), the password having been checked before proposing.
 */
export type AuthRequest =
  | { op: 'authEnable'; req: etcdserverpb.AuthEnableRequest }
  | { op: 'authDisable'; req: etcdserverpb.AuthDisableRequest }
  | { op: 'authenticate'; req: etcdserverpb.AuthenticateRequest }
  | { op: 'userAdd'; req: etcdserverpb.AuthUserAddRequest }
  | { op: 'userDelete'; req: etcdserverpb.AuthUserDeleteRequest }
  | { op: 'userChangePassword'; req: etcdserverpb.AuthUserChangePasswordRequest }
  | { op: 'userGrantRole'; req: etcdserverpb.AuthUserGrantRoleRequest }
  | { op: 'userRevokeRole'; req: etcdserverpb.AuthUserRevokeRoleRequest }
  | { op: 'userGet'; req: etcdserverpb.AuthUserGetRequest }
  | { op: 'userList'; req: etcdserverpb.AuthUserListRequest }
  | { op: 'roleAdd'; req: etcdserverpb.AuthRoleAddRequest }
  | { op: 'roleDelete'; req: etcdserverpb.AuthRoleDeleteRequest }
  | { op: 'roleGrantPermission'; req: etcdserverpb.AuthRoleGrantPermissionRequest }
  | { op: 'roleRevokePermission'; req: etcdserverpb.AuthRoleRevokePermissionRequest }
  | { op: 'roleGet'; req: etcdserverpb.AuthRoleGetRequest }
  | { op: 'roleList'; req: etcdserverpb.AuthRoleListRequest };

/**
 * Who proposed a client's request (etcd's RequestHeader username and auth_revision): apply
 * checks permissions against the auth store as it is at the entry's index. Internal proposals
 * (lease expiry, checkpoints, auto-compaction, publish) carry none.
 */
export interface RequestAuth { username: string; revision: number }

/** A request as it travels in a log entry: the request and, for a client's, who sent it. */
export type LogRequest = InternalRequest & { requester?: RequestAuth };

interface Codec<T> { encode(m: T, w?: BinaryWriter): BinaryWriter; decode(b: Uint8Array): T }
const pb = etcdserverpb;
// Codes are part of the WAL format: never renumber one.
const AUTH_OPS: { [K in AuthRequest['op']]: { code: number; codec: Codec<Extract<AuthRequest, { op: K }>['req']> } } = {
  authEnable: { code: 10, codec: pb.AuthEnableRequest },
  authDisable: { code: 11, codec: pb.AuthDisableRequest },
  authenticate: { code: 12, codec: pb.AuthenticateRequest },
  userAdd: { code: 13, codec: pb.AuthUserAddRequest },
  userDelete: { code: 14, codec: pb.AuthUserDeleteRequest },
  userChangePassword: { code: 15, codec: pb.AuthUserChangePasswordRequest },
  userGrantRole: { code: 16, codec: pb.AuthUserGrantRoleRequest },
  userRevokeRole: { code: 17, codec: pb.AuthUserRevokeRoleRequest },
  userGet: { code: 18, codec: pb.AuthUserGetRequest },
  userList: { code: 19, codec: pb.AuthUserListRequest },
  roleAdd: { code: 20, codec: pb.AuthRoleAddRequest },
  roleDelete: { code: 21, codec: pb.AuthRoleDeleteRequest },
  roleGrantPermission: { code: 22, codec: pb.AuthRoleGrantPermissionRequest },
  roleRevokePermission: { code: 23, codec: pb.AuthRoleRevokePermissionRequest },
  roleGet: { code: 24, codec: pb.AuthRoleGetRequest },
  roleList: { code: 25, codec: pb.AuthRoleListRequest },
};
const AUTH_OP_BY_CODE = new Map(Object.entries(AUTH_OPS).map(([op, { code }]) => [code, op as AuthRequest['op']]));
/** Set on the kind byte when a requester follows the request ID: u16 name length, name (UTF-8), u64 auth revision. */
const REQUESTER_FLAG = 0x80;

// Codes are part of the WAL format: never renumber one.
const KIND_CODES = { put: 1, deleteRange: 2, txn: 3, compaction: 4, leaseGrant: 5, leaseRevoke: 6, leaseCheckpoint: 7, memberAttributes: 8, alarm: 9 } as const;
const HEADER_BYTES = 9; // kind (1) + request id (8, big-endian)

function writePayload(req: InternalRequest, w: BinaryWriter): void {
  switch (req.kind) {
    case 'put': etcdserverpb.PutRequest.encode(req.put, w); return;
    case 'deleteRange': etcdserverpb.DeleteRangeRequest.encode(req.deleteRange, w); return;
    case 'txn': etcdserverpb.TxnRequest.encode(req.txn, w); return;
    case 'compaction': etcdserverpb.CompactionRequest.encode(req.compaction, w); return;
    case 'leaseGrant': etcdserverpb.LeaseGrantRequest.encode(req.leaseGrant, w); return;
    case 'leaseRevoke': etcdserverpb.LeaseRevokeRequest.encode(req.leaseRevoke, w); return;
    case 'leaseCheckpoint': etcdserverpb.LeaseCheckpointRequest.encode(req.leaseCheckpoint, w); return;
    case 'memberAttributes': etcdserverpb.Member.encode(req.member, w); return;
    case 'alarm': etcdserverpb.AlarmRequest.encode(req.alarm, w); return;
    case 'auth': (AUTH_OPS[req.auth.op].codec as Codec<unknown>).encode(req.auth.req, w); return;
  }
}

function kindCode(req: InternalRequest): number {
  return req.kind === 'auth' ? AUTH_OPS[req.auth.op].code : KIND_CODES[req.kind];
}

/**
 * One writer for every entry (encoding is synchronous): a fresh writer starts at 128 bytes and
 * doubles, so a 100-put txn (~27 KB) allocated 8 buffers and a 64 KiB put 10, then a copy for
 * finish() and another behind the header. This one keeps its buffer, and finish() copies out
 * exactly the entry's bytes. One that grew past SCRATCH_KEEP_BYTES is dropped after use.
 */
let scratch = new BinaryWriter();
const SCRATCH_KEEP_BYTES = 1 << 20;
const head = Buffer.alloc(HEADER_BYTES);

/**
 * The bytes a request was decoded from, kept beside it ({@link withWireBytes}): a txn taken off the
 * wire goes into its log entry as those bytes, not decoded into objects and encoded again.
 */
const wireBytes = new WeakMap<object, Uint8Array>();

/**
 * Marks `message` as decoded from `bytes` (the whole message, nothing else, decoded with the same
 * decoder apply uses), so its log entry carries `bytes`: apply decodes them to what `message` is.
 * Unknown fields ride along and are skipped at apply as they were here. Txns only.
 */
export function withWireBytes<T extends object>(message: T, bytes: Uint8Array): T {
  wireBytes.set(message, bytes);
  return message;
}

export function encodeInternalRequest(req: LogRequest): Buffer {
  const wire = req.kind === 'txn' ? wireBytes.get(req.txn) : undefined;
  if (wire !== undefined) return entryOf(req, wire);
  const w = scratch;
  let out: Uint8Array;
  try {
    w.raw(headOf(req));
    if (req.requester) w.raw(requesterOf(req.requester));
    writePayload(req, w);
    // Its own memory (slice() of the writer's buffer), not a slice of Node's shared 8 KiB pool:
    // the raft log keeps each entry's data in memory until a snapshot, and one small retained
    // slice kept its whole slab (and the garbage of other requests in it) alive.
    out = w.finish();
  } catch (err) {
    scratch = new BinaryWriter(); // left mid-message
    throw err;
  }
  if (out.byteLength > SCRATCH_KEEP_BYTES) scratch = new BinaryWriter();
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

/** An entry of a request's own wire bytes behind its header: one copy, into memory of its own (as above). */
function entryOf(req: LogRequest, payload: Uint8Array): Buffer {
  const h = headOf(req);
  const requester = req.requester ? requesterOf(req.requester) : undefined;
  const at = HEADER_BYTES + (requester?.byteLength ?? 0);
  const out = Buffer.allocUnsafeSlow(at + payload.byteLength);
  h.copy(out, 0);
  requester?.copy(out, HEADER_BYTES);
  out.set(payload, at);
  return out;
}

/** The kind byte and request ID (the scratch `head`, valid until the next encode). */
function headOf(req: LogRequest): Buffer {
  head[0] = kindCode(req) | (req.requester ? REQUESTER_FLAG : 0);
  head.writeBigUInt64BE(req.id, 1);
  return head;
}

function requesterOf(r: RequestAuth): Buffer {
  const name = Buffer.from(r.username);
  const out = Buffer.allocUnsafe(2 + name.byteLength + 8);
  out.writeUInt16BE(name.byteLength, 0);
  name.copy(out, 2);
  out.writeBigUInt64BE(BigInt(r.revision), 2 + name.byteLength);
  return out;
}

/**
 * From an entry's header alone: its request ID, and whether it publishes member attributes
 * (the one kind replay applies again below the consistent index). Replay after a restart meets
 * every entry since the last snapshot, most already in the backend: their bodies (a 100-put txn
 * is ~27 KB) need no decoding. Undefined for a header too short to read.
 */
export function peekInternalRequest(data: Uint8Array): { id: bigint; memberAttributes: boolean } | undefined {
  if (data.byteLength < HEADER_BYTES) return undefined;
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return { id: buf.readBigUInt64BE(1), memberAttributes: (buf[0]! & ~REQUESTER_FLAG) === KIND_CODES.memberAttributes };
}

export function decodeInternalRequest(data: Uint8Array): LogRequest {
  if (data.byteLength < HEADER_BYTES) throw new Error(`log entry of ${data.byteLength} bytes is too short`);
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const id = buf.readBigUInt64BE(1);
  if ((buf[0]! & REQUESTER_FLAG) === 0) return decodeKind(buf[0]!, id, buf.subarray(HEADER_BYTES));
  if (buf.byteLength < HEADER_BYTES + 2) throw new Error('log entry with a truncated requester');
  const nameBytes = buf.readUInt16BE(HEADER_BYTES);
  const at = HEADER_BYTES + 2 + nameBytes;
  if (buf.byteLength < at + 8) throw new Error('log entry with a truncated requester');
  const username = buf.toString('utf8', HEADER_BYTES + 2, at);
  const revision = buf.readBigUInt64BE(at);
  if (revision > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`log entry with auth revision ${revision} beyond 2^53`);
  const req: LogRequest = decodeKind(buf[0]! & ~REQUESTER_FLAG, id, buf.subarray(at + 8));
  req.requester = { username, revision: Number(revision) };
  return req;
}

function decodeKind(code: number, id: bigint, body: Buffer): InternalRequest {
  const op = AUTH_OP_BY_CODE.get(code);
  if (op !== undefined) return { kind: 'auth', id, auth: { op, req: (AUTH_OPS[op].codec as Codec<unknown>).decode(body) } as AuthRequest };
  switch (code) {
    // Keys and values as views of the entry: it is never written to or reused, the raft log keeps
    // it until a snapshot anyway, and mvcc copies what it keeps into the encoded KeyValue.
    case KIND_CODES.put: return { kind: 'put', id, put: decodeViewing(etcdserverpb.PutRequest, body) };
    case KIND_CODES.deleteRange: return { kind: 'deleteRange', id, deleteRange: decodeViewing(etcdserverpb.DeleteRangeRequest, body) };
    case KIND_CODES.txn: return { kind: 'txn', id, txn: decodeViewing(etcdserverpb.TxnRequest, body) };
    case KIND_CODES.compaction: return { kind: 'compaction', id, compaction: etcdserverpb.CompactionRequest.decode(body) };
    case KIND_CODES.leaseGrant: return { kind: 'leaseGrant', id, leaseGrant: etcdserverpb.LeaseGrantRequest.decode(body) };
    case KIND_CODES.leaseRevoke: return { kind: 'leaseRevoke', id, leaseRevoke: etcdserverpb.LeaseRevokeRequest.decode(body) };
    case KIND_CODES.leaseCheckpoint: return { kind: 'leaseCheckpoint', id, leaseCheckpoint: etcdserverpb.LeaseCheckpointRequest.decode(body) };
    case KIND_CODES.memberAttributes: return { kind: 'memberAttributes', id, member: etcdserverpb.Member.decode(body) };
    case KIND_CODES.alarm: return { kind: 'alarm', id, alarm: etcdserverpb.AlarmRequest.decode(body) };
    default: throw new Error(`unknown log entry kind ${code}`);
  }
}
