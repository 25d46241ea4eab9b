// Benchmark (not a test): @raftkv/client and the coordination services, raftkv vs etcd 3.4 in one run.
//   put:      one put at a time (p50 ms): a lock cycle is a txn and a delete.
//   lock:     Mutex lock+unlock cycles/s (one session, uncontended), the same through the Lock
//             service (v3lockpb Lock+Unlock RPCs), and 4 sessions contending for one lock.
//   election: resign-to-new-leader time with 2 candidates (p50/p99 ms).
//   client:   puts/s with 64 in flight, @raftkv/client vs the etcd3 npm package, on the same server.
// Usage: pnpm bench:client  (BENCH_SECONDS=3)
import { credentials } from '@grpc/grpc-js';
import { LockClient } from '@raftkv/api';
import { Client, Election, Mutex, Session } from '@raftkv/client';
import { Etcd3 } from 'etcd3';
import { removeDir, startEtcd, startRaftkv, type ServerProcess } from '@raftkv/testkit';
import { raftkvBin } from '../raftkv-binary.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 3);
const IN_FLIGHT = 64;

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function forSeconds(body: () => Promise<void>, workers = 1): Promise<number> {
  const until = performance.now() + SECONDS * 1000;
  let n = 0;
  await Promise.all(Array.from({ length: workers }, async () => {
    while (performance.now() < until) { await body(); n++; }
  }));
  return n / SECONDS;
}

async function lockCycles(client: Client): Promise<number> {
  const session = await Session.create(client, { ttl: 30 });
  const m = new Mutex(session, 'bench-lock');
  const rate = await forSeconds(async () => { await m.lock(); await m.unlock(); });
  await session.close();
  return rate;
}

async function lockServiceCycles(endpoint: string, client: Client): Promise<number> {
  const lease = await client.grant(30);
  const lock = new LockClient(endpoint, credentials.createInsecure());
  const call = <T>(fn: (cb: (err: Error | null, res: T) => void) => void) => new Promise<T>((res, rej) => fn((e, r) => (e ? rej(e) : res(r))));
  const rate = await forSeconds(async () => {
    const r = await call<{ key: Buffer }>((cb) => lock.lock({ name: Buffer.from('bench-svc'), lease: lease.id }, cb));
    await call((cb) => lock.unlock({ key: r.key }, cb));
  });
  lock.close();
  await lease.revoke();
  return rate;
}

async function contendedCycles(client: Client): Promise<number> {
  const sessions = await Promise.all(Array.from({ length: 4 }, () => Session.create(client, { ttl: 30 })));
  const mutexes = sessions.map((s) => new Mutex(s, 'bench-contended'));
  const until = performance.now() + SECONDS * 1000;
  let n = 0;
  await Promise.all(mutexes.map(async (m) => {
    while (performance.now() < until) { await m.lock(); n++; await m.unlock(); }
  }));
  await Promise.all(sessions.map((s) => s.close()));
  return n / SECONDS;
}

async function electionFailover(client: Client): Promise<{ p50: number; p99: number }> {
  const times: number[] = [];
  const until = performance.now() + SECONDS * 1000;
  while (performance.now() < until) {
    const [a, b] = await Promise.all([Session.create(client, { ttl: 30 }), Session.create(client, { ttl: 30 })]);
    const ea = new Election(a, 'bench-elect');
    const eb = new Election(b, 'bench-elect');
    await ea.campaign('a');
    let wonAt = 0;
    const waiting = eb.campaign('b').then(() => { wonAt = performance.now(); });
    await client.range('bench-elect/', { prefix: true }); // b is queued once its txn returned; give it a read's time
    const resignedAt = performance.now();
    await ea.resign();
    await waiting;
    times.push(wonAt - resignedAt);
    await eb.resign();
    await Promise.all([a.close(), b.close()]);
  }
  times.sort((x, y) => x - y);
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

/** One put at a time: the write latency a lock cycle (a txn and a delete) is made of. */
async function sequentialPutMs(client: Client): Promise<number> {
  const times: number[] = [];
  const until = performance.now() + SECONDS * 1000;
  while (performance.now() < until) {
    const t = performance.now();
    await client.put('bench/seq', 'v');
    times.push(performance.now() - t);
  }
  times.sort((x, y) => x - y);
  return percentile(times, 50);
}

async function putsOurs(endpoint: string): Promise<number> {
  const client = new Client({ endpoints: [endpoint] });
  let i = 0;
  const value = 'x'.repeat(128);
  const rate = await forSeconds(async () => { await client.put(`bench/ours/${i++ % 10_000}`, value); }, IN_FLIGHT);
  client.close();
  return rate;
}

async function putsEtcd3(endpoint: string): Promise<number> {
  const client = new Etcd3({ hosts: `http://${endpoint}` });
  let i = 0;
  const value = 'x'.repeat(128);
  const rate = await forSeconds(async () => { await client.put(`bench/etcd3/${i++ % 10_000}`).value(value); }, IN_FLIGHT);
  client.close();
  return rate;
}

async function benchServer(kind: 'raftkv' | 'etcd'): Promise<Record<string, string>> {
  const server: ServerProcess = kind === 'raftkv' ? await startRaftkv({ raftkvBin }) : await startEtcd();
  const client = new Client({ endpoints: [server.endpoint] });
  try {
    const seq = await sequentialPutMs(client);
    const lock = await lockCycles(client);
    const svc = await lockServiceCycles(server.endpoint, client);
    const contended = await contendedCycles(client);
    const election = await electionFailover(client);
    const ours = await putsOurs(server.endpoint);
    const etcd3 = await putsEtcd3(server.endpoint);
    // The other client again, so neither benefits from running second.
    const ours2 = await putsOurs(server.endpoint);
    const etcd32 = await putsEtcd3(server.endpoint);
    return {
      'one put at a time, p50 ms': seq.toFixed(2),
      'Mutex lock+unlock/s': lock.toFixed(0),
      'Lock service lock+unlock/s': svc.toFixed(0),
      '4 contending sessions, locks/s': contended.toFixed(0),
      'election resign→new leader p50/p99 ms': `${election.p50.toFixed(1)} / ${election.p99.toFixed(1)}`,
      [`puts/s @raftkv/client (${IN_FLIGHT} in flight)`]: `${ours.toFixed(0)}, ${ours2.toFixed(0)}`,
      [`puts/s etcd3 npm (${IN_FLIGHT} in flight)`]: `${etcd3.toFixed(0)}, ${etcd32.toFixed(0)}`,
    };
  } finally {
    client.close();
    await server.stop();
    removeDir(server.dataDir);
  }
}

const results = { raftkv: await benchServer('raftkv'), etcd: await benchServer('etcd') };
console.log(`client bench, ${SECONDS} s per cell (two put runs each, alternating clients)`);
console.log(`| | raftkv | etcd 3.4 |\n|---|---|---|`);
for (const row of Object.keys(results.raftkv)) console.log(`| ${row} | ${results.raftkv[row]} | ${results.etcd[row]} |`);
