import { EtcdErrors, type etcdserverpb } from '@raftkv/api';
import type * as mvcc from '@raftkv/mvcc';
import type { MvccStore } from '@raftkv/mvcc';
import type { Lessor } from '@raftkv/lease';
import type { IdGenerator } from './cluster/id-generator.js';
import type { Applier, ApplyResult } from './apply/applier.js';
import { encodeInternalRequest, type InternalRequest } from './apply/request-codec.js';
import type { ServerConfig } from './config/index.js';
import type { ReplicatedLog } from './log/replicated-log.js';

export interface MemberInfo {
  id: bigint;
  name: string;
  peerUrls: string[];
  clientUrls: string[];
}

/**
 * What the gRPC services share: the store to read, the log to propose to, and who we are.
 * Writes go propose → WAL (fsync) → apply → answer; nothing is acknowledged before it is durable.
 */
export class ServerCore {
  constructor(
    readonly config: ServerConfig,
    readonly store: MvccStore,
    readonly lessor: Lessor,
    readonly log: ReplicatedLog,
    private readonly applier: Applier,
    private readonly ids: IdGenerator,
    readonly clusterId: bigint,
    readonly self: MemberInfo,
  ) {}

  /** Highest log index whose effects are visible in the store. */
  get appliedIndex(): number {
    return this.store.consistentIndex;
  }

  header(revision: number): etcdserverpb.ResponseHeader {
    return { clusterId: this.clusterId, memberId: this.self.id, revision: BigInt(revision), raftTerm: BigInt(this.log.term) };
  }

  nextRequestId(): bigint {
    return this.ids.next();
  }

  async put(put: etcdserverpb.PutRequest): Promise<mvcc.PutResponse> {
    const r = await this.propose({ kind: 'put', id: this.nextRequestId(), put });
    return (r as Extract<ApplyResult, { kind: 'put' }>).response;
  }

  async deleteRange(deleteRange: etcdserverpb.DeleteRangeRequest): Promise<mvcc.DeleteRangeResponse> {
    const r = await this.propose({ kind: 'deleteRange', id: this.nextRequestId(), deleteRange });
    return (r as Extract<ApplyResult, { kind: 'deleteRange' }>).response;
  }

  async txn(txn: etcdserverpb.TxnRequest): Promise<mvcc.TxnResponse> {
    const r = await this.propose({ kind: 'txn', id: this.nextRequestId(), txn });
    return (r as Extract<ApplyResult, { kind: 'txn' }>).response;
  }

  /** Resolves when compacted; with `physical`, once the backend has dropped the old revisions. */
  async compact(compaction: etcdserverpb.CompactionRequest): Promise<void> {
    const r = await this.propose({ kind: 'compaction', id: this.nextRequestId(), compaction });
    if (compaction.physical) {
      await (r as Extract<ApplyResult, { kind: 'compaction' }>).physical;
      await this.applier.flushed();
    }
  }

  /** Grants a lease; an ID of 0 lets the server pick a positive int63, as etcd does. */
  async leaseGrant(req: etcdserverpb.LeaseGrantRequest): Promise<{ id: bigint; ttlSeconds: number }> {
    let id = req.ID;
    while (id === 0n) id = this.ids.next() & 0x7fff_ffff_ffff_ffffn;
    const r = await this.propose({ kind: 'leaseGrant', id: this.nextRequestId(), leaseGrant: { ID: id, TTL: req.TTL } });
    const granted = r as Extract<ApplyResult, { kind: 'leaseGrant' }>;
    return { id: granted.id, ttlSeconds: granted.ttlSeconds };
  }

  async leaseRevoke(id: bigint): Promise<void> {
    await this.propose({ kind: 'leaseRevoke', id: this.nextRequestId(), leaseRevoke: { ID: id } });
  }

  async leaseCheckpoint(checkpoints: etcdserverpb.LeaseCheckpoint[]): Promise<void> {
    await this.propose({ kind: 'leaseCheckpoint', id: this.nextRequestId(), leaseCheckpoint: { checkpoints } });
  }

  private propose(req: InternalRequest): Promise<ApplyResult> {
    const data = encodeInternalRequest(req);
    if (data.byteLength > this.config.maxRequestBytes) return Promise.reject(EtcdErrors.RequestTooLarge);
    const result = this.applier.wait(req.id);
    try {
      this.log.propose(data);
    } catch (err) {
      this.applier.cancel(req.id);
      return Promise.reject(err);
    }
    return result;
  }
}
