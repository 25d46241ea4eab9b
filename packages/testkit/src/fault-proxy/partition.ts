// Network partitions between the members of a loopback cluster, made of one FaultProxy per member.
//
// Why this wiring: an etcd-style member advertises ONE peer URL that every other member dials,
// and the member IDs are derived from those URLs, so member i cannot be shown a different URL
// for member j than member k is. Per-(from, to) proxies with distinct URLs are therefore not
// possible. Instead there is one proxy in front of each member's peer listener (its advertised
// URL), and each proxy tells the dialing member apart by the connection's origin (see
// connection-origin.ts): by pid through /proc (works with unmodified raftkv and etcd), or by a
// distinct loopback source address when the dialer can bind one.
import { FaultProxy, type ProxyMode } from './fault-proxy.js';
import { firstOrigin, originByProcess, originByRemoteAddress } from './connection-origin.js';

/** One member: where its real peer listener is, and how its outgoing peer connections are recognised. */
export interface PartitionMember {
  /** The member's --listen-peer-urls address. */
  readonly target: { readonly host: string; readonly port: number };
  /** The pid of the member's process (Linux), or the loopback source address it dials from. */
  readonly origin: { readonly pid: number } | { readonly address: string };
}

export interface PartitionOptions {
  readonly members: readonly PartitionMember[];
  /** How a cut link behaves: `blackhole` (default; a silent partition) or `drop` (resets). */
  readonly cut?: 'blackhole' | 'drop';
  /**
   * Connections to a member's proxy whose origin is not a member: `drop` (default) resets them,
   * so a wiring mistake (a dialer not recognised) shows up as failed peer connections instead
   * of a partition that silently lets traffic through; `pass` forwards them.
   */
  readonly unknownOrigins?: 'pass' | 'drop';
}

const MAX_MEMBERS = 16;

/**
 * Cuts and heals the links of a cluster of N members on loopback.
 *
 * Wiring a test must use, for member i (0-based):
 * - `--listen-peer-urls http://127.0.0.1:<real port i>` (= `members[i].target`),
 * - `--initial-advertise-peer-urls` = `peerUrl(i)`, and the same `peerUrl(i)` for member i in
 *   every member's `--initial-cluster`, so every member dials member i through proxy i,
 * - the member's pid given with `setMemberPid(i, pid)` once spawned (and again after a restart),
 *   or, for dialers that can bind one, a distinct loopback source address as `origin`.
 *
 * A cut link from→to stops the TCP connections DIALED BY `from` to `to`'s listener, both byte
 * directions of them. Which raft messages ride on which connection is the transport's business
 * (raftkv's gRPC transport sends i's messages on streams i dials; etcd's rafthttp also receives
 * on streams it dials), so one-way cuts (`cutLink`) are transport-specific; the symmetric cuts
 * (`isolate`, `partition`) are the portable ones.
 *
 * Limits: pid origins need Linux and members in processes of their own (members running inside
 * the test process share its pid: give those distinct source addresses, if their dialer can bind
 * one); each accepted connection costs one read of /proc/net/tcp (~10 ms here). Client traffic
 * (client URLs) is not proxied, so an isolated member still answers clients. Bytes held by a
 * blackhole are delivered when healed (see `ProxyMode`): a write that timed out in the minority
 * may still commit after the heal, so checkers must count a timeout as an unknown outcome.
 *
 * @example
 * const net = await Partition.start({ members: ports.map((port) => ({ target: { host: '127.0.0.1', port }, origin: { pid: 0 } })) });
 * // spawn member i with --initial-advertise-peer-urls net.peerUrl(i), then net.setMemberPid(i, child.pid)
 * net.isolate(0);   // member 0 is cut off from 1 and 2 both ways
 * net.heal();
 * await net.close();
 */
export class Partition {
  /** Cut links as `from>to`. */
  private readonly cutLinks = new Set<string>();
  private readonly cutMode: ProxyMode;

  private constructor(
    /** One proxy per member, in member order: proxy i is in front of member i. */
    readonly proxies: readonly FaultProxy[],
    private readonly pids: Map<number, string>,
    options: PartitionOptions,
  ) {
    this.cutMode = options.cut === 'drop' ? { kind: 'drop' } : { kind: 'blackhole' };
  }

  /** Starts one proxy per member, all passing. Throws RangeError for 0 or more than 16 members. */
  static async start(options: PartitionOptions): Promise<Partition> {
    const n = options.members.length;
    if (n < 1 || n > MAX_MEMBERS) throw new RangeError(`a partition needs 1..${MAX_MEMBERS} members, got ${n}`);
    const pids = new Map<number, string>();
    const addresses = new Map<string, string>();
    options.members.forEach((m, i) => {
      if ('pid' in m.origin) {
        if (m.origin.pid > 0) pids.set(m.origin.pid, Partition.label(i));
      } else {
        addresses.set(m.origin.address, Partition.label(i));
      }
    });
    const resolveOrigin = firstOrigin(originByRemoteAddress(addresses), originByProcess(pids));
    const unknownOriginMode: ProxyMode = options.unknownOrigins === 'pass' ? { kind: 'pass' } : { kind: 'drop' };
    const proxies: FaultProxy[] = [];
    try {
      for (const m of options.members) {
        proxies.push(await FaultProxy.start({ target: m.target, resolveOrigin, unknownOriginMode }));
      }
    } catch (err) {
      await Promise.all(proxies.map((p) => p.close()));
      throw err;
    }
    return new Partition(proxies, pids, options);
  }

  /** The origin label of member i in the proxies' stats (`connectionsByOrigin`). */
  static label(i: number): string {
    return `member-${i}`;
  }

  get size(): number {
    return this.proxies.length;
  }

  /** The peer URL member i must advertise (and be listed with in `--initial-cluster`). */
  peerUrl(i: number): string {
    return this.proxy(i).url;
  }

  /** Records member i's (new) pid; connections dialed by its previous pid are no longer recognised. */
  setMemberPid(i: number, pid: number): void {
    this.proxy(i);
    const label = Partition.label(i);
    for (const [p, l] of this.pids) if (l === label) this.pids.delete(p);
    this.pids.set(pid, label);
  }

  /** Cuts member i off from every other member, both ways. */
  isolate(i: number): void {
    this.proxy(i);
    for (let j = 0; j < this.size; j++) {
      if (j === i) continue;
      this.cutLinks.add(`${i}>${j}`);
      this.cutLinks.add(`${j}>${i}`);
    }
    this.apply();
  }

  /**
   * Splits the members into `groups` (each member in exactly one group; throws RangeError
   * otherwise): links inside a group work, links between groups are cut both ways. Replaces
   * every earlier cut.
   */
  partition(groups: readonly (readonly number[])[]): void {
    const groupOf = new Map<number, number>();
    groups.forEach((g, gi) => g.forEach((i) => {
      this.proxy(i);
      if (groupOf.has(i)) throw new RangeError(`member ${i} is in more than one group`);
      groupOf.set(i, gi);
    }));
    if (groupOf.size !== this.size) throw new RangeError(`every member must be in one group (${groupOf.size} of ${this.size} are)`);
    this.cutLinks.clear();
    for (let i = 0; i < this.size; i++) {
      for (let j = 0; j < this.size; j++) {
        if (groupOf.get(i) !== groupOf.get(j)) this.cutLinks.add(`${i}>${j}`);
      }
    }
    this.apply();
  }

  /** Cuts the connections member `from` dials to member `to` (one-way; see the class notes). */
  cutLink(from: number, to: number): void {
    this.proxy(from);
    this.proxy(to);
    if (from !== to) this.cutLinks.add(`${from}>${to}`);
    this.apply();
  }

  /** Undoes `cutLink(from, to)`. */
  healLink(from: number, to: number): void {
    this.cutLinks.delete(`${from}>${to}`);
    this.apply();
  }

  /** Whether connections dialed by `from` to `to` are cut now. */
  isCut(from: number, to: number): boolean {
    return this.cutLinks.has(`${from}>${to}`);
  }

  /** Lets all traffic through again; held bytes are delivered. */
  heal(): void {
    this.cutLinks.clear();
    this.apply();
  }

  /** Closes every proxy (and resets every proxied connection). */
  async close(): Promise<void> {
    await Promise.all(this.proxies.map((p) => p.close()));
  }

  private apply(): void {
    for (let to = 0; to < this.size; to++) {
      const proxy = this.proxy(to);
      for (let from = 0; from < this.size; from++) {
        if (from === to) continue;
        proxy.setOriginMode(Partition.label(from), this.isCut(from, to) ? this.cutMode : undefined);
      }
    }
  }

  private proxy(i: number): FaultProxy {
    const p = Number.isInteger(i) ? this.proxies[i] : undefined;
    if (p === undefined) throw new RangeError(`no member ${i} (members are 0..${this.size - 1})`);
    return p;
  }
}
