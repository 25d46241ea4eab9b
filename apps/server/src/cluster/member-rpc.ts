import {
  Client, Metadata, credentials, status, type ChannelCredentials, type ServiceDefinition, type ServiceError, type UntypedServiceImplementation,
  type sendUnaryData, type ServerUnaryCall,
} from '@grpc/grpc-js';
import { EtcdError, EtcdErrors } from '@raftkv/api';

/**
 * `raftkvpb.Member`: the member-to-member calls that are not raft messages, served on the peer
 * listener beside the raft transport (etcd serves these as HTTP on its peer URLs):
 *
 * - `Members`: the cluster ID and member list, for a member joining with
 *   `--initial-cluster-state existing` (it does not know the cluster ID yet: no header check);
 * - `LeaseRenew`, `LeaseTimeToLive`: a follower forwards keepalives and TTL queries to the
 *   leader, whose lessor alone knows the remaining TTLs;
 * - `MemberPromote`: only the leader can tell whether a learner has caught up;
 * - `HashKV`: the member's HashKV at a revision, for the corruption checks (etcd's
 *   `/members/hashkv` on the peer URLs).
 *
 * Bodies are JSON (IDs as hex strings, bytes as base64): these calls are rare and small.
 * Refusals travel as the etcd error's gRPC code and message and come back as that `EtcdError`.
 */
export const MEMBER_SERVICE_NAME = 'raftkvpb.Member';
const HEADER_CLUSTER_ID = 'raftkv-cluster-id';

const json = {
  serialize: (v: unknown): Buffer => Buffer.from(JSON.stringify(v), 'utf8'),
  deserialize: (b: Buffer): unknown => (b.byteLength === 0 ? {} : JSON.parse(b.toString('utf8'))),
};

const METHODS = ['Members', 'LeaseRenew', 'LeaseTimeToLive', 'MemberPromote', 'HashKV'] as const;
type MethodName = (typeof METHODS)[number];

const definition: ServiceDefinition = Object.fromEntries(METHODS.map((name) => [name, {
  path: `/${MEMBER_SERVICE_NAME}/${name}`,
  requestStream: false,
  responseStream: false,
  requestSerialize: json.serialize,
  requestDeserialize: json.deserialize,
  responseSerialize: json.serialize,
  responseDeserialize: json.deserialize,
}]));

export interface WireMember { id: string; name: string; peerUrls: string[]; clientUrls: string[]; isLearner: boolean }
export interface MembersReply { clusterId: string; members: WireMember[] }
export interface TimeToLiveReply { ttl: number; grantedTtl: number; keys: string[] }
/** etcd's HashKVResponse as /members/hashkv answers it: the header carries the member and its current revision. */
export interface HashKvReply { header: { memberId: string; revision: number }; hash: number; compactRevision: number }

/** What the leader (or any member, for `members`) answers. Throw an `EtcdError` to refuse. */
export interface MemberRpcHandlers {
  clusterId(): bigint;
  members(): MembersReply;
  leaseRenew(id: bigint): Promise<number>;
  leaseTimeToLive(id: bigint, keys: boolean): Promise<TimeToLiveReply>;
  memberPromote(id: bigint): Promise<MembersReply>;
  /** HashKV at `revision` (0: the current one); refuse with `Compacted` / `FutureRev` as etcd. */
  hashKV(revision: number): Promise<HashKvReply>;
}

/** IDs cross the wire as the hex of their 64 bits (lease IDs are signed: see {@link toHexId}). */
function hexId(v: unknown): bigint {
  if (typeof v !== 'string' || !/^[0-9a-f]{1,16}$/.test(v)) throw new EtcdError(status.INVALID_ARGUMENT, 'raftkv: malformed member RPC ID');
  return BigInt(`0x${v}`);
}

/** The hex of an ID's 64 bits: a negative lease ID (int64) goes as its two's complement. */
function toHexId(id: bigint): string {
  return BigInt.asUintN(64, id).toString(16);
}

function fail(callback: sendUnaryData<unknown>, err: unknown): void {
  if (err instanceof EtcdError) callback({ code: err.code, details: err.message } as ServiceError);
  else callback({ code: status.INTERNAL, details: err instanceof Error ? err.message : String(err) } as ServiceError);
}

/** The service to add to the peer listener's gRPC server. */
export function memberService(h: MemberRpcHandlers): { definition: ServiceDefinition; implementation: UntypedServiceImplementation } {
  const checked = <T>(run: (req: Record<string, unknown>) => Promise<T> | T) =>
    (call: ServerUnaryCall<Record<string, unknown>, T>, callback: sendUnaryData<T>): void => {
      const cid = call.metadata.get(HEADER_CLUSTER_ID)[0];
      if (cid !== h.clusterId().toString(16)) {
        callback({ code: status.FAILED_PRECONDITION, details: 'raftkv: cluster ID mismatch' } as ServiceError);
        return;
      }
      Promise.resolve().then(() => run(call.request)).then((v) => callback(null, v), (err: unknown) => fail(callback as sendUnaryData<unknown>, err));
    };
  const implementation: Record<MethodName, unknown> = {
    Members: (_call: ServerUnaryCall<unknown, MembersReply>, callback: sendUnaryData<MembersReply>) => {
      try {
        callback(null, h.members());
      } catch (err) {
        fail(callback as sendUnaryData<unknown>, err);
      }
    },
    LeaseRenew: checked(async (req) => ({ ttl: await h.leaseRenew(BigInt.asIntN(64, hexId(req['id']))) })),
    LeaseTimeToLive: checked((req) => h.leaseTimeToLive(BigInt.asIntN(64, hexId(req['id'])), req['keys'] === true)),
    MemberPromote: checked((req) => h.memberPromote(hexId(req['id']))),
    HashKV: checked((req) => {
      const rev = req['revision'];
      if (typeof rev !== 'number' || !Number.isSafeInteger(rev)) throw new EtcdError(status.INVALID_ARGUMENT, 'raftkv: malformed HashKV revision');
      return h.hashKV(rev);
    }),
  };
  return { definition, implementation: implementation as UntypedServiceImplementation };
}

/** `http(s)://host:port` → the gRPC target `host:port`; https needs peer TLS credentials. */
function target(url: string, tls: ChannelCredentials | (() => ChannelCredentials) | undefined): { host: string; creds: ChannelCredentials } {
  const u = new URL(url);
  if (u.protocol === 'https:' && tls !== undefined) return { host: u.host, creds: typeof tls === 'function' ? tls() : tls };
  if (u.protocol !== 'http:') throw new TypeError(`peer URL ${url}: ${u.protocol === 'https:' ? 'https needs peer TLS (--peer-cert-file/--peer-key-file or --peer-auto-tls)' : 'scheme must be http or https'}`);
  return { host: u.host, creds: credentials.createInsecure() };
}

/** Calls `raftkvpb.Member` on other members; one channel per peer URL, reused. */
export class MemberRpcClient {
  private readonly clients = new Map<string, Client>();

  /** @param tls credentials for https peer URLs (this member's peer TLS), or a function asked per new channel. */
  constructor(private readonly clusterId: () => bigint, private readonly tls?: ChannelCredentials | (() => ChannelCredentials)) {}

  private call<T>(url: string, method: MethodName, body: unknown, timeoutMs: number): Promise<T> {
    let client = this.clients.get(url);
    if (!client) {
      const t = target(url, this.tls);
      client = new Client(t.host, t.creds);
      this.clients.set(url, client);
    }
    const md = new Metadata();
    md.set(HEADER_CLUSTER_ID, this.clusterId().toString(16));
    return new Promise<T>((resolve, reject) => {
      client.makeUnaryRequest<unknown, T>(
        `/${MEMBER_SERVICE_NAME}/${method}`, json.serialize, json.deserialize as (b: Buffer) => T, body, md,
        { deadline: Date.now() + timeoutMs },
        (err, value) => {
          if (!err) return resolve(value as T);
          // An etcd error the remote member raised comes back as itself.
          if (err.details.startsWith('etcdserver: ')) reject(new EtcdError(err.code, err.details));
          // The leader did not answer in time: what etcd says when a forwarded request times out.
          else if (err.code === status.DEADLINE_EXCEEDED) reject(EtcdErrors.Timeout);
          else reject(err);
        },
      );
    });
  }

  members(url: string, timeoutMs: number): Promise<MembersReply> {
    return this.call(url, 'Members', {}, timeoutMs);
  }

  async leaseRenew(url: string, id: bigint, timeoutMs: number): Promise<number> {
    return (await this.call<{ ttl: number }>(url, 'LeaseRenew', { id: toHexId(id) }, timeoutMs)).ttl;
  }

  leaseTimeToLive(url: string, id: bigint, keys: boolean, timeoutMs: number): Promise<TimeToLiveReply> {
    return this.call(url, 'LeaseTimeToLive', { id: toHexId(id), keys }, timeoutMs);
  }

  memberPromote(url: string, id: bigint, timeoutMs: number): Promise<MembersReply> {
    return this.call(url, 'MemberPromote', { id: toHexId(id) }, timeoutMs);
  }

  hashKV(url: string, revision: number, timeoutMs: number): Promise<HashKvReply> {
    return this.call(url, 'HashKV', { revision }, timeoutMs);
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
