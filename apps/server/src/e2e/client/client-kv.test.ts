// @raftkv/client against one raftkv member and one etcd 3.4.23: the same test body on both.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CancelledError, Client, Cmp, CompactedError, DeadlineExceededError, Election, ElectionNoLeaderError, ElectionNotLeaderError, EmptyKeyError,
  FutureRevError, LeaseNotFoundError, LockedError, Mutex, Op, Session, SessionExpiredError, UnavailableError, WatchCompactedError, type WatchBatch,
} from '@raftkv/client';
import { removeDir, type ServerProcess } from '@raftkv/testkit';
import { eventually, KINDS, sleep, startOne } from './servers.js';

const str = (b: Buffer | undefined): string | undefined => b?.toString();

describe.each(KINDS)('@raftkv/client against %s', (kind) => {
  let server: ServerProcess;
  let client: Client;
  beforeAll(async () => {
    server = await startOne(kind);
    client = new Client({ endpoints: [`http://${server.endpoint}`] });
  }, 30_000);
  afterAll(async () => {
    client?.close();
    await server?.stop();
    if (server) removeDir(server.dataDir);
  });

  it('puts and gets with every option', async () => {
    const first = await client.put('kv/a', 'one');
    const second = await client.put('kv/a', 'two', { prevKv: true });
    expect(str(second.prevKv?.value)).toBe('one');
    expect(second.header.revision).toBe(first.header.revision + 1n);
    const got = await client.get('kv/a');
    expect(str(got?.value)).toBe('two');
    expect(got?.version).toBe(2n);
    expect(got?.createRevision).toBe(first.header.revision);
    expect(str((await client.get('kv/a', { revision: first.header.revision }))?.value)).toBe('one');
    expect(await client.get('kv/missing')).toBeUndefined();
    expect((await client.get('kv/a', { keysOnly: true }))?.value.length).toBe(0);
    expect(str((await client.get('kv/a', { serializable: true }))?.value)).toBe('two');
    // ignoreValue keeps the value, attaching a lease.
    const lease = await client.grant(30, { keepAlive: false });
    await client.put('kv/a', '', { ignoreValue: true, lease: lease.id });
    const leased = await client.get('kv/a');
    expect(str(leased?.value)).toBe('two');
    expect(leased?.lease).toBe(lease.id);
    await client.put('kv/a', 'three', { ignoreLease: true });
    expect((await client.get('kv/a'))?.lease).toBe(lease.id);
    await lease.revoke();
    expect(await client.get('kv/a')).toBeUndefined();
  });

  it('reads prefixes, ranges, sorted, limited, counted and filtered by revision', async () => {
    const base = (await client.put('r/a', '1')).header.revision;
    await client.put('r/b', '22');
    await client.put('r/c', '333');
    await client.put('rr', 'outside');
    const all = await client.range('r/', { prefix: true });
    expect(all.kvs.map((kv) => str(kv.key))).toEqual(['r/a', 'r/b', 'r/c']);
    expect(all.count).toBe(3n);
    const span = await client.range('r/a', { rangeEnd: 'r/c' });
    expect(span.kvs.map((kv) => str(kv.key))).toEqual(['r/a', 'r/b']);
    const limited = await client.range('r/', { prefix: true, limit: 2, sort: { target: 'value', order: 'descend' } });
    expect(limited.kvs.map((kv) => str(kv.value))).toEqual(['333', '22']);
    expect(limited.more).toBe(true);
    expect(limited.count).toBe(3n);
    expect((await client.range('r/', { prefix: true, countOnly: true })).count).toBe(3n);
    expect((await client.range('r/', { prefix: true, countOnly: true })).kvs).toEqual([]);
    const later = await client.range('r/', { prefix: true, minCreateRevision: base + 1n });
    expect(later.kvs.map((kv) => str(kv.key))).toEqual(['r/b', 'r/c']);
    const fromKey = await client.range('r/c', { fromKey: true });
    expect(fromKey.kvs.map((kv) => str(kv.key))).toContain('rr');
  });

  it('pages through a large range at one revision', async () => {
    const ops = Array.from({ length: 250 }, (_, i) => Op.put(`page/${String(i).padStart(4, '0')}`, `v${i}`));
    for (let i = 0; i < ops.length; i += 100) await client.txn().success(...ops.slice(i, i + 100)).commit();
    const seen: string[] = [];
    let revisions = new Set<bigint>();
    let pages = 0;
    for await (const page of client.pages('page/', { prefix: true, pageSize: 40 })) {
      pages++;
      if (pages === 2) await client.put('page/0000', 'changed after the first page'); // not seen: same revision
      seen.push(...page.kvs.map((kv) => `${str(kv.key)}=${str(kv.value)}`));
      revisions = new Set([...revisions, ...page.kvs.map((kv) => kv.modRevision)]);
    }
    expect(pages).toBe(7);
    expect(seen).toHaveLength(250);
    expect(seen[0]).toBe('page/0000=v0');
    expect(new Set(seen).size).toBe(250);
    expect((await client.getPrefix('page/', { pageSize: 64 })).length).toBe(250);
  });

  it('deletes one key, a prefix with previous values, and a range', async () => {
    await client.put('d/1', 'a');
    await client.put('d/2', 'b');
    await client.put('d/3', 'c');
    expect((await client.delete('d/1')).deleted).toBe(1n);
    const r = await client.delete('d/', { prefix: true, prevKv: true });
    expect(r.deleted).toBe(2n);
    expect(r.prevKvs.map((kv) => str(kv.value)).sort()).toEqual(['b', 'c']);
    expect((await client.delete('d/none')).deleted).toBe(0n);
  });

  it('runs txns: compare-and-swap, nested txns, every compare target', async () => {
    await client.put('t/k', 'old');
    const swap = await client.txn().if(Cmp.value('t/k', '=', 'old')).success(Op.put('t/k', 'new')).failure(Op.get('t/k')).commit();
    expect(swap.succeeded).toBe(true);
    expect(swap.responses[0]!.type).toBe('put');
    const again = await client.txn().if(Cmp.value('t/k', '=', 'old')).success(Op.put('t/k', 'newer')).failure(Op.get('t/k')).commit();
    expect(again.succeeded).toBe(false);
    const read = again.responses[0]!;
    expect(read.type === 'range' && str(read.kvs[0]?.value)).toBe('new');
    const kv = (await client.get('t/k'))!;
    const all = await client.txn().if(
      Cmp.version('t/k', '=', kv.version), Cmp.createRevision('t/k', '=', kv.createRevision),
      Cmp.modRevision('t/k', '=', kv.modRevision), Cmp.lease('t/k', '=', 0n), Cmp.createRevision('t/absent', '=', 0),
    ).success(Op.txn([Cmp.value('t/k', '!=', 'x')], [Op.put('t/nested', 'yes')], [])).commit();
    expect(all.succeeded).toBe(true);
    expect(all.responses[0]!.type).toBe('txn');
    expect(str((await client.get('t/nested'))?.value)).toBe('yes');
  });

  it('namespaces keys as etcd’s clientv3/namespace does', async () => {
    const app = client.namespace('app1/');
    await app.put('x', '1');
    await app.put('y', '2');
    await client.put('app10', 'outside');
    expect(str((await client.get('app1/x'))?.value)).toBe('1');
    expect((await app.range('', { fromKey: true })).kvs.map((kv) => str(kv.key))).toEqual(['x', 'y']);
    expect((await app.getPrefix('')).map((kv) => str(kv.key))).toEqual(['x', 'y']);
    const w = app.watch('', { prefix: true });
    await w.ready;
    await client.put('app10', 'not seen');
    await app.put('z', '3');
    const it = w[Symbol.asyncIterator]();
    const b = (await it.next()).value as WatchBatch;
    expect(b.events.map((e) => str(e.kv.key))).toEqual(['z']);
    w.close();
    expect((await app.delete('', { fromKey: true })).deleted).toBe(3n);
    expect(str((await client.get('app10'))?.value)).toBe('not seen');
  });

  it('throws typed errors with etcd’s messages', async () => {
    await expect(client.put('', 'v')).rejects.toBeInstanceOf(EmptyKeyError);
    await expect(client.put('', 'v')).rejects.toMatchObject({ message: 'etcdserver: key is not provided', etcdName: 'EmptyKey' });
    await expect(client.put('e/k', 'v', { lease: 0x7777n })).rejects.toBeInstanceOf(LeaseNotFoundError);
    const rev = (await client.put('e/k', 'v')).header.revision;
    await expect(client.get('e/k', { revision: rev + 1000n })).rejects.toBeInstanceOf(FutureRevError);
    await client.put('e/k', 'v2');
    await client.compact(rev);
    await expect(client.get('e/k', { revision: rev - 1n })).rejects.toBeInstanceOf(CompactedError);
  });

  it('honours AbortSignal and deadlines', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(client.get('x', { signal: ac.signal })).rejects.toBeInstanceOf(CancelledError);
    // Closing a watcher ends its iteration.
    const w = client.watch('never/', { prefix: true });
    await w.ready;
    const pending = (async () => { for await (const _ of w) { /* nothing comes */ } return 'ended'; })();
    w.close();
    expect(await pending).toBe('ended');
    const dead = new Client({ endpoints: ['127.0.0.1:1'], retryTimeoutMs: 300 });
    await expect(dead.get('x')).rejects.toBeInstanceOf(UnavailableError);
    await expect(dead.get('x', { timeoutMs: 1 })).rejects.toSatisfy((e) => e instanceof DeadlineExceededError || e instanceof UnavailableError);
    dead.close();
  });

  it('watches a prefix with previous values and filters, from a past revision', async () => {
    const start = (await client.put('w/a', '1')).header.revision;
    await client.put('w/a', '2');
    await client.delete('w/a');
    const w = client.watch('w/', { prefix: true, startRevision: start, prevKv: true });
    const events: string[] = [];
    for await (const e of w.events()) {
      events.push(`${e.type} ${str(e.kv.key)} ${str(e.kv.value)} prev=${str(e.prevKv?.value)}`);
      if (events.length === 3) break;
    }
    expect(events).toEqual(['put w/a 1 prev=undefined', 'put w/a 2 prev=1', 'delete w/a  prev=2']);
    const noPut = client.watch('w/', { prefix: true, startRevision: start, filters: ['noPut'] });
    const first = (await noPut.events().next()).value;
    expect(first?.type).toBe('delete');
    noPut.close();
  });

  it('a watcher read late holds its stream back and still delivers every event in order', async () => {
    const w = client.watch('slow/', { prefix: true, maxQueuedBatches: 8 });
    await w.ready;
    for (let i = 0; i < 100; i++) await client.put(`slow/${String(i).padStart(3, '0')}`, 'x'.repeat(1000));
    expect(w.queued).toBeLessThanOrEqual(8);
    const keys: string[] = [];
    for await (const e of w.events()) {
      keys.push(e.kv.key.toString());
      if (keys.length === 100) break;
    }
    expect(keys).toEqual(Array.from({ length: 100 }, (_, i) => `slow/${String(i).padStart(3, '0')}`));
  });

  it('surfaces a compacted start revision as WatchCompactedError', async () => {
    const first = (await client.put('wc/k', '1')).header.revision;
    const last = (await client.put('wc/k', '2')).header.revision;
    await client.compact(last);
    const w = client.watch('wc/k', { startRevision: first });
    const err = await (async () => { try { for await (const _ of w) { /* */ } } catch (e) { return e; } return undefined; })();
    expect(err).toBeInstanceOf(WatchCompactedError);
    expect((err as WatchCompactedError).compactRevision).toBe(last);
  });

  it('keeps a lease alive past its TTL and signals when it is lost', async () => {
    const lease = await client.grant(3);
    await client.put('l/k', 'v', { lease: lease.id });
    await sleep(4500); // past the TTL: alive only if renewed
    expect(lease.isLost).toBe(false);
    expect(lease.keepAlives).toBeGreaterThan(0);
    expect((await lease.timeToLive()).ttl).toBeGreaterThan(0n);
    expect(str((await client.get('l/k'))?.value)).toBe('v');
    // Revoked behind the client's back: the next renewal finds it gone.
    await client.revoke(lease.id);
    const lost = await lease.lost;
    expect(lost.name).toBe('LeaseLostError');
    expect(lease.signal.aborted).toBe(true);
    expect((await client.timeToLive(lease.id)).ttl).toBe(-1n);
  });

  it('a Mutex wait is cancelled by its signal and leaves the queue; tryLock refuses a held lock', async () => {
    const [s1, s2] = await Promise.all([Session.create(client, { ttl: 10 }), Session.create(client, { ttl: 10 })]);
    const m1 = new Mutex(s1, 'abort-lock');
    const m2 = new Mutex(s2, 'abort-lock');
    await m1.lock();
    const ac = new AbortController();
    const waiting = m2.lock({ signal: ac.signal });
    await eventually('queued', async () => ((await client.range('abort-lock/', { prefix: true })).count === 2n ? true : undefined));
    ac.abort();
    await expect(waiting).rejects.toBeInstanceOf(Error);
    expect((await client.range('abort-lock/', { prefix: true })).kvs.map((kv) => kv.key.toString())).toEqual([m1.key.toString()]);
    await expect(m2.tryLock()).rejects.toBeInstanceOf(LockedError);
    expect((await client.range('abort-lock/', { prefix: true })).count).toBe(1n);
    await m1.unlock();
    await m2.tryLock();
    expect((await client.txn().if(m2.isOwner()).commit()).succeeded).toBe(true);
    await m2.unlock();
    await Promise.all([s1.close(), s2.close()]);
  });

  it('a Mutex wait or a campaign whose lease is lost meanwhile ends in SessionExpiredError, never in a lock or leadership it does not have', async () => {
    const [s1, s2, s3] = await Promise.all([Session.create(client, { ttl: 10 }), Session.create(client, { ttl: 10 }), Session.create(client, { ttl: 10 })]);
    const holder = new Mutex(s1, 'expired-lock');
    await holder.lock();
    // Outcomes taken at once: a waiter may fail as soon as its lease is revoked, before the
    // assertions below reach it (an unobserved rejection then is an error of the run).
    const outcome = (p: Promise<unknown>) => p.then(() => 'granted', (err: unknown) => err);
    const waiting = outcome(new Mutex(s2, 'expired-lock').lock());
    const leader = new Election(s1, 'expired-election');
    await leader.campaign('a');
    const campaigning = outcome(new Election(s3, 'expired-election').campaign('b'));
    await eventually('queued', async () => ((await client.range('expired-', { prefix: true })).count === 4n ? true : undefined));
    // The waiters' leases are revoked (their keys go); then the holders step down.
    await client.revoke(s2.lease);
    await client.revoke(s3.lease);
    await holder.unlock();
    await leader.resign();
    expect(await waiting).toBeInstanceOf(SessionExpiredError);
    expect(await campaigning).toBeInstanceOf(SessionExpiredError);
    expect((await client.range('expired-', { prefix: true })).count).toBe(0n);
    await s1.close();
  });

  it('an Election is observed, proclaimed and handed over on resign', async () => {
    const [s1, s2] = await Promise.all([Session.create(client, { ttl: 10 }), Session.create(client, { ttl: 10 })]);
    const e1 = new Election(s1, 'obs');
    const e2 = new Election(s2, 'obs');
    await expect(e1.leader()).rejects.toBeInstanceOf(ElectionNoLeaderError);
    await expect(e1.proclaim('x')).rejects.toBeInstanceOf(ElectionNotLeaderError);
    const ac = new AbortController();
    const seen: string[] = [];
    const observing = (async () => { for await (const l of e1.observe({ signal: ac.signal })) { seen.push(l.kv.value.toString()); if (seen.length === 3) ac.abort(); } })();
    await e1.campaign('one');
    await e1.proclaim('two');
    const second = e2.campaign('three');
    await eventually('queued', async () => ((await client.range('obs/', { prefix: true })).count === 2n ? true : undefined));
    await e1.resign();
    await second;
    await observing;
    expect(seen).toEqual(['one', 'two', 'three']);
    expect((await e2.leader()).kv.key.toString()).toBe(e2.key.toString());
    await e2.resign();
    await Promise.all([s1.close(), s2.close()]);
  });

  it('lists members and reports status', async () => {
    const members = await client.cluster.list();
    expect(members).toHaveLength(1);
    expect(members[0]!.clientURLs).toEqual([`http://${server.endpoint}`]);
    const status = await client.maintenance.status();
    expect(status.leader).toBe(members[0]!.id);
    const hash = await client.maintenance.hashKv();
    expect(hash.header?.revision).toBeGreaterThan(0n);
    const leases = await client.leases();
    expect(Array.isArray(leases)).toBe(true);
  });

  it('fails over to the next endpoint when the first refuses connections', async () => {
    const c = new Client({ endpoints: ['127.0.0.1:1', server.endpoint] });
    await c.put('fo/k', 'v'); // never sent to the dead endpoint's server, so a write may move on
    expect(str((await c.get('fo/k'))?.value)).toBe('v');
    expect(c.endpoints.current).toBe(server.endpoint);
    c.close();
  });
});

describe('@raftkv/client snapshot stream', () => {
  it.each(KINDS)('streams the whole backend (%s)', async (kind) => {
    const server = await startOne(kind);
    const client = new Client({ endpoints: [server.endpoint] });
    try {
      await client.put('snap/k', 'v');
      let bytes = 0;
      for await (const chunk of client.maintenance.snapshot()) bytes += chunk.length;
      expect(bytes).toBeGreaterThan(4096);
    } finally {
      client.close();
      await server.stop();
      removeDir(server.dataDir);
    }
  });
});
