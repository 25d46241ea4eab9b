/**
 * Micro-benchmark: a three-node in-memory cluster in one process (messages
 * encoded and decoded as on the wire, and without the codec), MemoryStorage as the "disk". Prints
 * committed entries per second and CPU time per entry for several batch
 * sizes. Numbers, not assertions: the machine is shared and noisy.
 *
 *   node dist/bench.js [--entries 200000] [--size 128]
 */
import { decodeMessage, encodeMessage } from './codec.js';
import { RawNode } from './raw-node.js';
import { MemoryStorage } from './storage.js';
import { Prng } from './simulation/prng.js';
import { EntryType, StateType, type Message } from './types.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

interface Member {
  node: RawNode;
  storage: MemoryStorage;
  applied: number;
}

function cluster(): Map<bigint, Member> {
  const ids = [1n, 2n, 3n];
  const rng = new Prng(7);
  const members = new Map<bigint, Member>();
  for (const id of ids) {
    const storage = new MemoryStorage();
    const r = rng.fork();
    const node = new RawNode({ id, voters: ids, electionTicks: 10, heartbeatTicks: 1, storage, random: () => r.next(), maxInflightMsgs: 256 });
    members.set(id, { node, storage, applied: 0 });
  }
  return members;
}

/** One pass over every member: persist, send (queue), apply, advance; then deliver. Returns messages moved. */
function pump(members: Map<bigint, Member>, wire: Array<Uint8Array | Message>, codec: boolean): number {
  const out = (msg: Message): void => {
    wire.push(codec ? encodeMessage(msg) : msg);
  };
  for (const m of members.values()) {
    while (m.node.hasReady()) {
      const rd = m.node.ready();
      for (const msg of rd.messagesBeforePersist) out(msg);
      if (rd.snapshot) m.storage.applySnapshot(rd.snapshot);
      m.storage.append(rd.entries);
      if (rd.hardState) m.storage.setHardState(rd.hardState);
      for (const msg of rd.messages) out(msg);
      for (const e of rd.committedEntries) if (e.type === EntryType.Normal && e.data.length > 0) m.applied++;
      m.node.advance();
    }
  }
  const n = wire.length;
  for (const item of wire.splice(0)) {
    const msg: Message = item instanceof Uint8Array ? decodeMessage(item) : item;
    members.get(msg.to)?.node.step(msg);
  }
  return n;
}

function run(total: number, batch: number, size: number, codec: boolean): { perSec: number; cpuUsPerEntry: number; msgs: number } {
  const members = cluster();
  const wire: Array<Uint8Array | Message> = [];
  const leader = members.get(1n)!;
  leader.node.campaign();
  while (pump(members, wire, codec) > 0);
  if (leader.node.status().softState.raftState !== StateType.Leader) throw new Error('no leader');
  const payload = new Uint8Array(size);
  let proposed = 0;
  let msgs = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  while (leader.applied < total) {
    const n = Math.min(batch, total - proposed);
    if (n === 1) leader.node.propose(payload);
    else leader.node.proposeBatch(Array.from({ length: n }, () => payload));
    proposed += n;
    msgs += pump(members, wire, codec);
  }
  while (pump(members, wire, codec) > 0);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  return { perSec: total / secs, cpuUsPerEntry: (cpu.user + cpu.system) / total, msgs };
}

const total = arg('entries', 200_000);
const size = arg('size', 128);
console.log(`3-node in-memory cluster in one process, ${total} entries of ${size} B; CPU is for all three nodes`);
for (const codec of [true, false]) {
  for (const batch of [1, 16, 256]) {
    run(Math.min(total, 20_000), batch, size, codec); // warm-up
    const r = run(total, batch, size, codec);
    console.log(
      `${codec ? 'wire codec' : 'no codec  '} batch ${String(batch).padStart(3)}: ` +
        `${Math.round(r.perSec).toLocaleString('en-US').padStart(9)} entries/s committed and applied, ` +
        `${r.cpuUsPerEntry.toFixed(2)} µs CPU/entry, ${r.msgs} messages`,
    );
  }
}
