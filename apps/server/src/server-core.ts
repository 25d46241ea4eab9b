import { EtcdErrors, type etcdserverpb } from '@raftkv/api';
import type * as mvcc from '@raftkv/mvcc';
import type { MvccStore } from '@raftkv/mvcc';
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
  private requestCounter = 0n;

  constructor(
    readonly config: ServerConfig,
    readonly store: MvccStore,
    readonly log: ReplicatedLog,
    private readonly applier: Applier,
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
    this.requestCounter += 1n;
    return this.requestCounter;
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
