// The three-node loop from README.md, kept runnable here so the README cannot rot.
import { describe, expect, it } from 'vitest';
import { MemoryStorage, RawNode, decodeEntryConfChange, type Message } from './index.js';

function seeded(seed: number): () => number {
  // mulberry32: any deterministic source in [0, 1) will do.
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('README example', () => {
  it('three nodes elect a leader and apply a proposal everywhere', () => {
    const ids = [1n, 2n, 3n];
    const nodes = new Map<bigint, { node: RawNode; storage: MemoryStorage; applied: string[] }>();
    for (const id of ids) {
      const storage = new MemoryStorage();
      const node = new RawNode({ id, voters: ids, electionTicks: 10, heartbeatTicks: 1, storage, random: seeded(Number(id)) });
      nodes.set(id, { node, storage, applied: [] });
    }
    const inbox: Message[] = [];

    const handleReadies = (): void => {
      for (const { node, storage, applied } of nodes.values()) {
        while (node.hasReady()) {
          const rd = node.ready();
          inbox.push(...rd.messagesBeforePersist); // may go while persisting
          if (rd.snapshot) storage.applySnapshot(rd.snapshot);
          storage.append(rd.entries); // 1. persist entries ...
          if (rd.hardState) storage.setHardState(rd.hardState); // ... and hard state
          inbox.push(...rd.messages); // 2. only then send
          for (const e of rd.committedEntries) {
            const cc = decodeEntryConfChange(e); // 3. apply
            if (cc) node.applyConfChange(cc);
            else if (e.data.length > 0) applied.push(new TextDecoder().decode(e.data));
          }
          node.advance(); // 4. done
        }
      }
    };

    for (let tick = 0; tick < 100; tick++) {
      for (const { node } of nodes.values()) node.tick();
      handleReadies();
      while (inbox.length > 0) {
        const m = inbox.shift()!;
        nodes.get(m.to)?.node.step(m);
        handleReadies();
      }
      if (tick === 50) {
        const leader = [...nodes.values()].find((n) => n.node.status().softState.lead === n.node.status().id)!;
        leader.node.propose(new TextEncoder().encode('hello'));
      }
    }
    for (const { applied } of nodes.values()) expect(applied).toEqual(['hello']);
  });
});
