/** A tiny synchronous cluster for behaviour tests: deliver messages until quiet. */
import { ProposalDroppedError } from '../errors.js';
import type { RaftConfig } from '../config.js';
import { RawNode, raftOf, type Ready } from '../raw-node.js';
import { MemoryStorage } from '../storage.js';
import { decodeEntryConfChange } from '../codec.js';
import type { Entry, Message, ReadState } from '../types.js';
import { Prng } from '../simulation/prng.js';

export interface TestNode {
  id: bigint;
  node: RawNode;
  storage: MemoryStorage;
  applied: Entry[];
  readStates: ReadState[];
}

export class TestCluster {
  readonly nodes = new Map<bigint, TestNode>();
  /** Messages not yet delivered. */
  queue: Message[] = [];
  /** Return false to drop a message. */
  filter: (m: Message) => boolean = () => true;
  readonly rng: Prng;

  constructor(
    ids: bigint[],
    private readonly extra: Partial<RaftConfig> = {},
    seed = 1,
  ) {
    this.rng = new Prng(seed);
    for (const id of ids) this.add(id, { voters: ids, ...extra });
  }

  add(id: bigint, cfg: Partial<RaftConfig>): TestNode {
    const storage = new MemoryStorage();
    const rng = this.rng.fork();
    const node = new RawNode({
      id,
      electionTicks: 10,
      heartbeatTicks: 1,
      storage,
      random: () => rng.next(),
      ...this.extra,
      ...cfg,
    });
    const tn: TestNode = { id, node, storage, applied: [], readStates: [] };
    this.nodes.set(id, tn);
    return tn;
  }

  get(id: bigint): TestNode {
    return this.nodes.get(id)!;
  }

  raft(id: bigint) {
    return raftOf(this.get(id).node);
  }

  /** Handle one node's Ready the way a server would. */
  handleReady(tn: TestNode): Ready | undefined {
    if (!tn.node.hasReady()) return undefined;
    const rd = tn.node.ready();
    this.queue.push(...rd.messagesBeforePersist);
    if (rd.snapshot) tn.storage.applySnapshot(rd.snapshot);
    tn.storage.append(rd.entries);
    if (rd.hardState) tn.storage.setHardState(rd.hardState);
    this.queue.push(...rd.messages);
    for (const e of rd.committedEntries) {
      tn.applied.push(e);
      const cc = decodeEntryConfChange(e);
      if (cc) tn.node.applyConfChange(cc);
    }
    tn.readStates.push(...rd.readStates);
    tn.node.advance();
    return rd;
  }

  /** Process readies and deliver messages until nothing moves. */
  stabilize(maxRounds = 1000): void {
    for (let i = 0; i < maxRounds; i++) {
      let moved = false;
      for (const tn of this.nodes.values()) {
        while (this.handleReady(tn)) moved = true;
      }
      const msgs = this.queue;
      this.queue = [];
      for (const m of msgs) {
        moved = true;
        if (!this.filter(m)) continue;
        const to = this.nodes.get(m.to);
        to?.node.step(m);
      }
      if (!moved) return;
    }
    throw new Error('cluster did not stabilize');
  }

  /** Isolate `id`: drop every message to or from it. */
  isolate(id: bigint): void {
    this.filter = (m) => m.from !== id && m.to !== id;
  }

  heal(): void {
    this.filter = () => true;
  }

  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const tn of this.nodes.values()) tn.node.tick();
      this.stabilize();
    }
  }

  elect(id: bigint): void {
    this.get(id).node.campaign();
    this.stabilize();
  }

  propose(id: bigint, data: string): void {
    this.get(id).node.propose(new TextEncoder().encode(data));
    this.stabilize();
  }

  tryPropose(id: bigint, data: string): boolean {
    try {
      this.propose(id, data);
      return true;
    } catch (e) {
      if (e instanceof ProposalDroppedError) return false;
      throw e;
    }
  }

  appliedData(id: bigint): string[] {
    return this.get(id)
      .applied.filter((e) => e.type === 0 && e.data.length > 0)
      .map((e) => new TextDecoder().decode(e.data));
  }
}
