// `etcdctl lock` and `etcdctl elect` against raftkv and etcd 3.4.23, and the Go key layout shared
// with @raftkv/client: a lock taken by etcdctl blocks our Mutex and the other way round; an
// etcdctl leader is seen by our Election and blocks our campaign.
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, Election, Mutex, Session } from '@raftkv/client';
import { etcdctl, removeDir, requireBinary, spawnTracked, type ServerProcess } from '@raftkv/testkit';
import { eventually, KINDS, startOne } from './servers.js';

/** A long-running etcdctl; `out()` is what it printed so far. */
function etcdctlProcess(endpoint: string, args: string[]): { child: ChildProcess; out: () => string; closed: Promise<number | null> } {
  const child = spawnTracked(requireBinary('etcdctl'), ['--endpoints', endpoint, ...args],
    { env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr!.on('data', (b: Buffer) => { out += b.toString(); });
  const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, out: () => out, closed };
}

const hexToName = (text: string): string => text.replace(/\/[0-9a-f]{6,16}/g, '/LEASE');

describe.each(KINDS)('etcdctl lock and elect against %s, with @raftkv/client', (kind) => {
  let server: ServerProcess;
  let client: Client;
  const transcript: Record<string, string> = {};
  beforeAll(async () => {
    server = await startOne(kind);
    client = new Client({ endpoints: [server.endpoint] });
  }, 30_000);
  afterAll(async () => {
    client?.close();
    await server?.stop();
    if (server) removeDir(server.dataDir);
    transcripts.set(kind, transcript);
  });

  it('runs a command under the lock with ETCD_LOCK_KEY set', async () => {
    const r = await etcdctl(server.endpoint, ['lock', 'cmdlock', '--', 'sh', '-c', 'echo key=$ETCD_LOCK_KEY']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^key=cmdlock\/[0-9a-f]+\n$/);
    transcript['lock with a command'] = hexToName(r.stdout);
    // The command is done: the lock key is gone.
    expect((await client.range('cmdlock/', { prefix: true })).count).toBe(0n);
  });

  it('an etcdctl lock blocks our Mutex until etcdctl lets go', async () => {
    const held = etcdctlProcess(server.endpoint, ['lock', 'shared']);
    await eventually('etcdctl holds the lock', async () => (held.out().includes('shared/') ? true : undefined));
    transcript['etcdctl lock prints'] = hexToName(held.out());
    const session = await Session.create(client, { ttl: 10 });
    const mutex = new Mutex(session, 'shared');
    let acquired = false;
    const locking = mutex.lock().then(() => { acquired = true; });
    // Our key is queued behind etcdctl's (the oldest create revision owns the lock).
    const queue = await eventually('our key is queued', async () => {
      const r = await client.range('shared/', { prefix: true, sort: { target: 'create', order: 'ascend' } });
      return r.kvs.length === 2 ? r.kvs.map((kv) => kv.key.toString()) : undefined;
    });
    expect(queue[1]).toBe(`shared/${session.lease.toString(16)}`);
    expect(acquired).toBe(false);
    held.child.kill('SIGTERM'); // etcdctl unlocks on SIGTERM
    expect(await held.closed).toBe(0);
    await locking;
    expect(acquired).toBe(true);
    await mutex.unlock();
    await session.close();
  });

  it('our Mutex blocks an etcdctl lock until we unlock', async () => {
    const session = await Session.create(client, { ttl: 10 });
    const mutex = new Mutex(session, 'ours');
    await mutex.lock();
    const waiting = etcdctlProcess(server.endpoint, ['lock', 'ours']);
    await eventually('etcdctl is queued', async () => ((await client.range('ours/', { prefix: true })).count === 2n ? true : undefined));
    expect(waiting.out()).toBe('');
    await mutex.unlock();
    await eventually('etcdctl got the lock', async () => (waiting.out().includes('ours/') ? true : undefined));
    waiting.child.kill('SIGTERM');
    expect(await waiting.closed).toBe(0);
    await session.close();
  });

  it('an etcdctl leader is observed by our Election and blocks our campaign until it resigns', async () => {
    const observer = etcdctlProcess(server.endpoint, ['elect', '-l', 'vote']);
    const leader = etcdctlProcess(server.endpoint, ['elect', 'vote', 'first']);
    await eventually('etcdctl leads', async () => (leader.out().includes('first') ? true : undefined));
    transcript['etcdctl elect prints'] = hexToName(leader.out());
    const session = await Session.create(client, { ttl: 10 });
    const election = new Election(session, 'vote');
    expect((await election.leader()).kv.value.toString()).toBe('first');
    let won = false;
    const campaign = election.campaign('second').then(() => { won = true; });
    await eventually('our candidate is queued', async () => ((await client.range('vote/', { prefix: true })).count === 2n ? true : undefined));
    expect(won).toBe(false);
    leader.child.kill('SIGTERM'); // etcdctl resigns on SIGTERM
    await leader.closed;
    await campaign;
    expect((await election.leader()).kv.value.toString()).toBe('second');
    await eventually('etcdctl observer saw both leaders', async () => (observer.out().includes('second') ? true : undefined));
    transcript['etcdctl elect -l prints'] = hexToName(observer.out());
    observer.child.kill('SIGTERM');
    await observer.closed;
    await election.resign();
    await session.close();
  });
});

const transcripts = new Map<string, Record<string, string>>();
describe('etcdctl lock/elect transcripts', () => {
  it('are the same on raftkv and etcd', () => {
    expect(Object.keys(transcripts.get('etcd') ?? {})).toHaveLength(4);
    expect(transcripts.get('raftkv')).toEqual(transcripts.get('etcd'));
  });
});
