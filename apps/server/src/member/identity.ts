import { Wal } from '@raftkv/wal';
import type { ServerConfig } from '../config/index.js';
import { computeClusterId, computeMemberId, formatUrl } from '../cluster/member-id.js';
import type { MemberRpcClient, MembersReply } from '../cluster/member-rpc.js';
import type { Member } from '../cluster/membership.js';
import type { Logger } from '../logger.js';
import { readRestoredMarker } from '../snapshot/restored-marker.js';

/** How long a joining member keeps asking the existing members for the member list. */
const JOIN_TIMEOUT_MS = 30_000;

/** Who this member is and which cluster it belongs to, from the WAL or the flags. */
export interface Identity {
  memberId: bigint;
  clusterId: bigint;
  /** Voters of a brand-new cluster (raft bootstraps them); none on restart or join. */
  voters?: bigint[];
  /** Members to seed an empty membership with (new cluster, or the list a join fetched). */
  initialMembers?: Member[];
}

/** The WAL's metadata record: member ID then cluster ID, 8 bytes each, big-endian. */
export function encodeWalMetadata(memberId: bigint, clusterId: bigint): Uint8Array {
  const b = Buffer.alloc(16);
  b.writeBigUInt64BE(memberId, 0);
  b.writeBigUInt64BE(clusterId, 8);
  return b;
}

export function decodeWalMetadata(meta: Uint8Array): { memberId: bigint; clusterId: bigint } {
  if (meta.byteLength !== 16) throw new Error(`WAL metadata has ${meta.byteLength} bytes, want 16`);
  const b = Buffer.from(meta.buffer, meta.byteOffset, meta.byteLength);
  return { memberId: b.readBigUInt64BE(0), clusterId: b.readBigUInt64BE(8) };
}

export interface IdentityOptions {
  /** How long a joining member asks the others for the member list (default 30 s). */
  joinTimeoutMs?: number;
}

/**
 * A member with a WAL is who its WAL says (flags are ignored, as in etcd); a member of a new
 * cluster derives both IDs from `--initial-cluster` and the token; a member joining an
 * existing cluster (`--initial-cluster-state existing`) asks the others for the member list.
 */
export async function resolveIdentity(
  walDir: string, config: ServerConfig, rpc: MemberRpcClient, log: Logger, options: IdentityOptions = {},
): Promise<Identity> {
  if (await Wal.exists(walDir)) {
    // Only the metadata at the head of the newest segment: the raft node reads (and checks) the
    // whole log once, later in start-up.
    return decodeWalMetadata(await Wal.readMetadata(walDir));
  }
  const token = config.initialClusterToken;
  // A data dir made by `raftkv snapshot restore` starts the cluster its restore's flags named.
  const restored = readRestoredMarker(config.dataDir);
  const restoredMismatch = (what: string) => new Error(`raftkv: ${config.dataDir} was restored from a snapshot for member ${restored!.name} (${restored!.memberId}) `
    + `of cluster ${restored!.clusterId}; ${what}: start it with the --name, --initial-cluster, --initial-cluster-token and --initial-advertise-peer-urls given to "raftkv snapshot restore"`);
  if (config.initialClusterState === 'new') {
    const initialMembers = config.initialCluster.map((m): Member => ({
      id: computeMemberId(m.peerUrls, token), name: m.name, peerUrls: m.peerUrls.map(formatUrl), clientUrls: [], isLearner: false,
    }));
    const memberId = computeMemberId(config.initialAdvertisePeerUrls, token);
    const voters = initialMembers.map((m) => m.id);
    const clusterId = computeClusterId(voters);
    if (restored && (restored.memberId !== memberId.toString(16) || restored.clusterId !== clusterId.toString(16))) {
      throw restoredMismatch(`these flags make member ${memberId.toString(16)} of cluster ${clusterId.toString(16)}`);
    }
    return { memberId, clusterId, voters, initialMembers };
  }
  if (restored) throw restoredMismatch('it cannot join an existing cluster (--initial-cluster-state existing)');
  // Joining an existing cluster: its members know our ID (MemberAdd picked it) and the cluster ID.
  const own = new Set(config.initialAdvertisePeerUrls.map(formatUrl));
  const urls = config.initialCluster.flatMap((m) => m.peerUrls.map(formatUrl)).filter((u) => !own.has(u));
  const deadline = Date.now() + (options.joinTimeoutMs ?? JOIN_TIMEOUT_MS);
  let lastError: unknown = new Error('no other member in --initial-cluster');
  while (Date.now() < deadline && urls.length > 0) {
    for (const url of urls) {
      let reply: MembersReply;
      try {
        reply = await rpc.members(url, 2000);
      } catch (err) {
        lastError = err;
        continue;
      }
      const members = reply.members.map((m): Member => ({
        id: BigInt(`0x${m.id}`), name: m.name, peerUrls: m.peerUrls, clientUrls: m.clientUrls, isLearner: m.isLearner,
      }));
      const self = members.find((m) => m.peerUrls.some((u) => own.has(u)));
      if (!self) {
        throw new Error(`raftkv: this member's peer URLs (${[...own].join(',')}) are not in the cluster's member list: add it with "member add" first`);
      }
      log.info('joining an existing cluster', { member: self.id.toString(16), cluster: reply.clusterId, via: url });
      return { memberId: self.id, clusterId: BigInt(`0x${reply.clusterId}`), initialMembers: members };
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`raftkv: cannot fetch the member list of the existing cluster: ${String(lastError)}`);
}
