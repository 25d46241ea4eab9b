import type { ChannelCredentials, ChannelOptions } from '@grpc/grpc-js';
import { etcdserverpb } from '@raftkv/api';
import { z } from 'zod';
import { Pool, type CallControl, type TlsOptions } from './connection.js';
import { toClientError } from './errors.js';
import {
  deleteRequest, deleteResult, Namespace, putRequest, putResult, rangeRequest, rangeResult, toBuf, txnReadOnly, txnRequest, txnResult,
  type Bytes, type Compare, type DeleteOptions, type DeleteResult, type KeySelector, type KeyValue, type PutOptions, type PutResult, type RangeOptions,
  type RangeResult, type TxnOp, type TxnResult,
} from './kv.js';
import { Lease, leaseTimeToLive, type LeaseTimeToLive } from './lease.js';
import { Watcher, type WatchOptions } from './watch.js';

export interface ClientOptions {
  /** `host:port`, `http://host:port` or `https://host:port` of one or more members. */
  endpoints: string[];
  /** TLS: CA, client certificate and key (PEM). `https://` endpoints use TLS with Node's root CAs without it. */
  tls?: TlsOptions;
  /** Username and password: the client authenticates, and again when the token becomes invalid. */
  auth?: { username: string; password: string };
  /** Prefix added to every key (etcd's clientv3/namespace layout). */
  namespace?: Bytes;
  /** How long safe retries (see RetryPolicy) go on before a call fails; default 15 s. */
  retryTimeoutMs?: number;
  /** Extra grpc-js channel options. */
  grpcOptions?: ChannelOptions;
  /** grpc-js channel credentials to use instead of those `tls` builds. */
  credentials?: ChannelCredentials;
}

const optionsSchema = z.object({
  endpoints: z.array(z.string().min(1)).min(1),
  tls: z.object({
    ca: z.any().optional(), cert: z.any().optional(), key: z.any().optional(), serverName: z.string().optional(),
  }).optional(),
  auth: z.object({ username: z.string().min(1), password: z.string() }).optional(),
  namespace: z.any().optional(),
  retryTimeoutMs: z.number().int().nonnegative().optional(),
  grpcOptions: z.record(z.string(), z.any()).optional(),
  credentials: z.any().optional(),
});

export interface GrantOptions extends CallControl {
  /** Ask for this lease ID (0: the server picks). */
  id?: bigint;
  /** Renew the lease until released (default true). */
  keepAlive?: boolean;
}

export interface Member {
  id: bigint;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

const members = (ms: etcdserverpb.Member[]): Member[] =>
  ms.map((m) => ({ id: m.ID, name: m.name, peerURLs: m.peerURLs, clientURLs: m.clientURLs, isLearner: m.isLearner }));

/**
 * A client of an etcd v3 cluster (raftkv or etcd). Every method takes an optional
 * `{ signal, timeoutMs }`. Reads are retried on another member after a failure; a write is
 * retried only when it surely was not applied (see {@link RetryPolicy}). Close it when done.
 *
 * @example
 *   const client = new Client({ endpoints: ['127.0.0.1:2379'] });
 *   await client.put('greeting', 'hello');
 *   (await client.get('greeting'))?.value.toString(); // 'hello'
 *   client.close();
 */
export class Client {
  private readonly pool: Pool;
  private readonly ns: Namespace;
  private readonly owner: boolean;

  constructor(options: ClientOptions);
  /** @internal a view of `parent`'s connections under another namespace. */
  constructor(options: ClientOptions, pool: Pool, ns: Namespace);
  constructor(options: ClientOptions, pool?: Pool, ns?: Namespace) {
    if (pool !== undefined && ns !== undefined) {
      this.pool = pool;
      this.ns = ns;
      this.owner = false;
      return;
    }
    const o = optionsSchema.parse(options) as ClientOptions;
    this.pool = new Pool({
      endpoints: o.endpoints, tls: o.tls, auth: o.auth,
      retryTimeoutMs: o.retryTimeoutMs ?? 15_000, grpcOptions: o.grpcOptions, credentials: o.credentials,
    });
    this.ns = new Namespace(o.namespace === undefined ? Buffer.alloc(0) : toBuf(o.namespace));
    this.owner = true;
  }

  /** The same connections with `prefix` added to every key (after this client's own namespace). */
  namespace(prefix: Bytes): Client {
    return new Client({ endpoints: this.pool.addresses }, this.pool, new Namespace(this.ns.key(prefix)));
  }

  /**
   * The same connections sending an auth token obtained elsewhere (a server relaying its
   * caller's token); the view never logs in itself.
   */
  withToken(token: string): Client {
    return new Client({ endpoints: this.pool.addresses }, this.pool.withToken(token), this.ns);
  }

  /** The endpoints, and the one calls go to now. */
  get endpoints(): { all: string[]; current: string } {
    return { all: this.pool.addresses, current: this.pool.currentAddress };
  }

  // ---- KV ----

  /** One key, or undefined. */
  async get(key: Bytes, opts: Omit<RangeOptions, keyof KeySelector | 'limit' | 'countOnly'> & CallControl = {}): Promise<KeyValue | undefined> {
    return (await this.range(key, opts)).kvs[0];
  }

  /** A Range call with every option of etcd's RangeRequest. */
  async range(key: Bytes, opts: RangeOptions & CallControl = {}): Promise<RangeResult> {
    const r = await this.pool.unary(etcdserverpb.KVService.range, rangeRequest(this.ns, key, opts), 'idempotent', opts);
    return rangeResult(this.ns, r);
  }

  /** Every key starting with `prefix`, read page by page at one revision (see {@link pages}). */
  async getPrefix(prefix: Bytes, opts: { pageSize?: number } & CallControl = {}): Promise<KeyValue[]> {
    const out: KeyValue[] = [];
    for await (const page of this.pages(prefix, { ...opts, prefix: true })) out.push(...page.kvs);
    return out;
  }

  /**
   * A large range in pages of `pageSize` keys (default 1000), all read at the revision of the
   * first page, so together they are one consistent snapshot. Keys ascend.
   */
  async *pages(key: Bytes, opts: Omit<RangeOptions, 'limit' | 'sort' | 'countOnly'> & { pageSize?: number } & CallControl = {}): AsyncGenerator<RangeResult> {
    const pageSize = BigInt(opts.pageSize ?? 1000);
    const { key: first, rangeEnd } = this.ns.range(key, opts);
    let req = rangeRequest(this.ns, key, { ...opts, limit: pageSize });
    req.key = first;
    req.rangeEnd = rangeEnd;
    for (;;) {
      const r = await this.pool.unary(etcdserverpb.KVService.range, req, 'idempotent', opts);
      yield rangeResult(this.ns, r);
      if (!r.more || r.kvs.length === 0) return;
      const last = r.kvs[r.kvs.length - 1]!.key;
      // The next page starts right after the last key, at the first page's revision.
      req = { ...req, key: Buffer.concat([last, Buffer.from([0])]), revision: r.header!.revision };
      if (req.rangeEnd.length === 0) return;
    }
  }

  async put(key: Bytes, value: Bytes, opts: PutOptions & CallControl = {}): Promise<PutResult> {
    const r = await this.pool.unary(etcdserverpb.KVService.put, putRequest(this.ns, key, value, opts), 'write', opts);
    return putResult(this.ns, r);
  }

  async delete(key: Bytes, opts: DeleteOptions & CallControl = {}): Promise<DeleteResult> {
    const r = await this.pool.unary(etcdserverpb.KVService.deleteRange, deleteRequest(this.ns, key, opts), 'write', opts);
    return deleteResult(this.ns, r);
  }

  /**
   * A transaction: `client.txn().if(Cmp.version('k', '=', 0)).success(Op.put('k', 'v')).failure(Op.get('k')).commit()`.
   * A txn that only reads is retried like a read; one that writes like a write.
   */
  txn(): TxnBuilder {
    return new TxnBuilder(async (compare, success, failure, control) => {
      const policy = txnReadOnly(success) && txnReadOnly(failure) ? 'idempotent' : 'write';
      const r = await this.pool.unary(etcdserverpb.KVService.txn, txnRequest(this.ns, compare, success, failure), policy, control);
      return txnResult(this.ns, r);
    });
  }

  /** Compacts history before `revision`; `physical` waits until it is removed from the backend. */
  async compact(revision: number | bigint, opts: { physical?: boolean } & CallControl = {}): Promise<etcdserverpb.ResponseHeader> {
    const r = await this.pool.unary(etcdserverpb.KVService.compact, { revision: BigInt(revision), physical: opts.physical ?? false }, 'idempotent', opts);
    return r.header!;
  }

  // ---- Watch ----

  /** Watches a key, a prefix or a range; see {@link Watcher}. */
  watch(key: Bytes, opts: WatchOptions = {}): Watcher {
    return new Watcher(this.pool, this.ns, key, opts);
  }

  // ---- Lease ----

  /** Grants a lease of `ttlSeconds`, kept alive by default. */
  async grant(ttlSeconds: number, opts: GrantOptions = {}): Promise<Lease> {
    // Granting is a write: a retry after an unknown outcome could leak a second lease.
    const r = await this.pool.unary(etcdserverpb.LeaseService.leaseGrant, { TTL: BigInt(ttlSeconds), ID: opts.id ?? 0n }, 'write', opts);
    if (r.error !== '') throw new Error(r.error);
    return new Lease(this.pool, r.ID, r.TTL, opts.keepAlive ?? true);
  }

  /**
   * A handle on an existing lease (granted elsewhere), kept alive only with `keepAlive`
   * (then `ttlSeconds` sets the renewal pace and the local expiry estimate).
   */
  leaseOf(id: bigint, opts: { keepAlive?: boolean; ttlSeconds?: number } = {}): Lease {
    return new Lease(this.pool, id, BigInt(opts.ttlSeconds ?? 0), opts.keepAlive ?? false);
  }

  async revoke(id: bigint, opts: CallControl = {}): Promise<void> {
    await this.pool.unary(etcdserverpb.LeaseService.leaseRevoke, { ID: id }, 'idempotent', opts);
  }

  timeToLive(id: bigint, opts: CallControl & { keys?: boolean } = {}): Promise<LeaseTimeToLive> {
    return leaseTimeToLive(this.pool, id, opts);
  }

  async leases(opts: CallControl = {}): Promise<bigint[]> {
    const r = await this.pool.unary(etcdserverpb.LeaseService.leaseLeases, {}, 'idempotent', opts);
    return r.leases.map((l) => l.ID);
  }

  // ---- Cluster ----

  readonly cluster = {
    list: async (opts: CallControl & { linearizable?: boolean } = {}): Promise<Member[]> =>
      members((await this.pool.unary(etcdserverpb.ClusterService.memberList, { linearizable: opts.linearizable ?? false }, 'idempotent', opts)).members),
    add: async (peerURLs: string[], opts: CallControl & { learner?: boolean } = {}): Promise<{ member: Member; members: Member[] }> => {
      const r = await this.pool.unary(etcdserverpb.ClusterService.memberAdd, { peerURLs, isLearner: opts.learner ?? false }, 'write', opts);
      return { member: members([r.member!])[0]!, members: members(r.members) };
    },
    remove: async (id: bigint, opts: CallControl = {}): Promise<Member[]> =>
      members((await this.pool.unary(etcdserverpb.ClusterService.memberRemove, { ID: id }, 'write', opts)).members),
    update: async (id: bigint, peerURLs: string[], opts: CallControl = {}): Promise<Member[]> =>
      members((await this.pool.unary(etcdserverpb.ClusterService.memberUpdate, { ID: id, peerURLs }, 'write', opts)).members),
    promote: async (id: bigint, opts: CallControl = {}): Promise<Member[]> =>
      members((await this.pool.unary(etcdserverpb.ClusterService.memberPromote, { ID: id }, 'write', opts)).members),
  };

  // ---- Maintenance (about one member: `endpoint` picks it, default the current one) ----

  readonly maintenance = {
    status: (opts: CallControl & { endpoint?: string } = {}): Promise<etcdserverpb.StatusResponse> =>
      this.pool.unary(etcdserverpb.MaintenanceService.status, {}, 'idempotent', opts, opts.endpoint),
    hashKv: (revision: number | bigint = 0, opts: CallControl & { endpoint?: string } = {}): Promise<etcdserverpb.HashKVResponse> =>
      this.pool.unary(etcdserverpb.MaintenanceService.hashKv, { revision: BigInt(revision) }, 'idempotent', opts, opts.endpoint),
    defragment: (opts: CallControl & { endpoint?: string } = {}): Promise<etcdserverpb.DefragmentResponse> =>
      this.pool.unary(etcdserverpb.MaintenanceService.defragment, {}, 'idempotent', opts, opts.endpoint),
    alarms: async (opts: CallControl = {}): Promise<etcdserverpb.AlarmMember[]> =>
      (await this.pool.unary(etcdserverpb.MaintenanceService.alarm, etcdserverpb.AlarmRequest.fromPartial({ action: etcdserverpb.AlarmRequest_AlarmAction.GET }), 'idempotent', opts)).alarms,
    disarm: async (alarm: etcdserverpb.AlarmMember, opts: CallControl = {}): Promise<etcdserverpb.AlarmMember[]> =>
      (await this.pool.unary(etcdserverpb.MaintenanceService.alarm, etcdserverpb.AlarmRequest.fromPartial({ action: etcdserverpb.AlarmRequest_AlarmAction.DEACTIVATE, memberID: alarm.memberID, alarm: alarm.alarm }), 'idempotent', opts)).alarms,
    moveLeader: (targetId: bigint, opts: CallControl & { endpoint?: string } = {}): Promise<etcdserverpb.MoveLeaderResponse> =>
      this.pool.unary(etcdserverpb.MaintenanceService.moveLeader, { targetID: targetId }, 'write', opts, opts.endpoint),
    /** The member's whole backend, as a stream of chunks. */
    snapshot: (opts: CallControl & { endpoint?: string } = {}): AsyncGenerator<Buffer> => snapshotChunks(this.pool, opts),
  };

  // ---- Auth management ----

  readonly auth = {
    enable: (opts: CallControl = {}) => this.pool.unary(etcdserverpb.AuthService.authEnable, {}, 'idempotent', opts),
    disable: (opts: CallControl = {}) => this.pool.unary(etcdserverpb.AuthService.authDisable, {}, 'idempotent', opts),
    userAdd: (name: string, password: string, opts: CallControl = {}) =>
      this.pool.unary(etcdserverpb.AuthService.userAdd, etcdserverpb.AuthUserAddRequest.fromPartial({ name, password }), 'write', opts),
    grantRole: (user: string, role: string, opts: CallControl = {}) =>
      this.pool.unary(etcdserverpb.AuthService.userGrantRole, { user, role }, 'idempotent', opts),
    roleAdd: (name: string, opts: CallControl = {}) => this.pool.unary(etcdserverpb.AuthService.roleAdd, { name }, 'write', opts),
  };

  /** Closes every connection; open calls, watchers and keepalives end. Only the client that opened them closes them. */
  close(): void {
    if (this.owner) this.pool.close();
  }
}

/** Builds and commits one txn; see {@link Client.txn}. */
export class TxnBuilder {
  private readonly compares: Compare[] = [];
  private readonly onSuccess: TxnOp[] = [];
  private readonly onFailure: TxnOp[] = [];

  /** @internal made by the client, not by users. */
  constructor(private readonly run: (c: Compare[], s: TxnOp[], f: TxnOp[], control: CallControl) => Promise<TxnResult>) {}

  if(...compares: Compare[]): this {
    this.compares.push(...compares);
    return this;
  }

  /** Operations run when every condition holds. (Not `then`: that would make the builder a thenable.) */
  success(...ops: TxnOp[]): this {
    this.onSuccess.push(...ops);
    return this;
  }

  /** Operations run otherwise. */
  failure(...ops: TxnOp[]): this {
    this.onFailure.push(...ops);
    return this;
  }

  commit(control: CallControl = {}): Promise<TxnResult> {
    return this.run(this.compares, this.onSuccess, this.onFailure, control);
  }
}

async function* snapshotChunks(pool: Pool, opts: CallControl & { endpoint?: string }): AsyncGenerator<Buffer> {
  const { call } = await pool.serverStream(etcdserverpb.MaintenanceService.snapshot, {}, opts, opts.endpoint);
  try {
    for await (const chunk of call as AsyncIterable<etcdserverpb.SnapshotResponse>) yield chunk.blob;
  } catch (err) {
    throw toClientError(err);
  } finally {
    call.cancel();
  }
}
