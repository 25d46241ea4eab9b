// --quota-backend-bytes and the NOSPACE alarm with the real binary and etcdctl, step by step
// beside real etcd 3.4 run with the same small quota: filled until NOSPACE, `alarm list`,
// writes refused with etcd's message while reads and deletes work, the alarm kept across a
// restart, then the recovery recipe. etcd needs compact + defrag + disarm (its quota counts
// the bbolt file, which only defrag shrinks); raftkv counts LMDB's pages in use, which
// compaction frees and LMDB reuses, so compact + disarm is enough.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, etcdctl, outcome, removeDir, startEtcd, startRaftkv, type ServerProcess } from '@raftkv/testkit';

const QUOTA_BYTES = 16 * 1024 * 1024;
const VALUE = randomBytes(100_000);
const NOSPACE_ERROR = { error: { code: 8, details: 'etcdserver: mvcc: database space exceeded' } };

interface Subject {
  label: 'raftkv' | 'etcd';
  server: ServerProcess;
  memberId: string;
}

/** Puts 100 kB values over 50 keys until a put fails; returns how many succeeded and the failure. */
async function fill(endpoint: string): Promise<{ puts: number; failure: unknown }> {
  const c = connect(endpoint);
  try {
    for (let i = 0; i < 2000; i++) {
      const r = await outcome(c.put({ key: Buffer.from(`k${i % 50}`), value: VALUE }));
      if ('error' in r) return { puts: i, failure: r };
    }
    return { puts: 2000, failure: undefined };
  } finally {
    c.close();
  }
}

async function ctl(s: Subject, args: string[]): Promise<{ code: number | null; out: string }> {
  const r = await etcdctl(s.server.endpoint, args);
  // etcdctl's client logs a retry line on stderr before its "Error:" line: keep the latter.
  const err = r.stderr.split('\n').filter((l) => l.startsWith('Error:')).join('\n');
  return { code: r.code, out: (r.stdout + err).split(s.memberId).join('MEMBER') };
}

async function memberId(endpoint: string): Promise<string> {
  const r = await etcdctl(endpoint, ['endpoint', 'status', '-w', 'json']);
  return /"member_id":(\d+)/.exec(r.stdout)![1]!;
}

async function revision(s: Subject): Promise<string> {
  const r = await etcdctl(s.server.endpoint, ['endpoint', 'status', '-w', 'json']);
  return /"revision":(\d+)/.exec(r.stdout)![1]!;
}

describe('NOSPACE: quota exceeded, alarm, recovery (raftkv beside etcd 3.4, same quota)', () => {
  const subjects: Subject[] = [];
  /** raftkv's output before its restart (where the alarm was raised). */
  let firstLife = '';
  const args = ['--quota-backend-bytes', String(QUOTA_BYTES)];
  beforeAll(async () => {
    const [r, e] = await Promise.all([startRaftkv({ args }), startEtcd({ args })]);
    subjects.push({ label: 'raftkv', server: r, memberId: await memberId(r.endpoint) });
    subjects.push({ label: 'etcd', server: e, memberId: await memberId(e.endpoint) });
  }, 60_000);
  afterAll(async () => {
    for (const s of subjects) {
      await s.server.stop();
      removeDir(s.server.dataDir);
    }
  });
  const each = async <T>(f: (s: Subject) => Promise<T>): Promise<Record<string, T>> => {
    const out: Record<string, T> = {};
    for (const s of subjects) out[s.label] = await f(s);
    return out;
  };
  const same = async (f: (s: Subject) => Promise<unknown>) => {
    const r = await each(f);
    expect(r['raftkv']).toEqual(r['etcd']);
    return r['raftkv'];
  };

  it('refuses the put that does not fit, after at least half the quota was written', async () => {
    const filled = await each((s) => fill(s.server.endpoint));
    for (const { puts, failure } of Object.values(filled)) {
      expect(failure).toEqual(NOSPACE_ERROR);
      expect(puts * VALUE.length).toBeGreaterThan(QUOTA_BYTES / 2);
    }
    console.log(`puts of 100 kB before NOSPACE at a 16 MiB quota: raftkv ${filled['raftkv']!.puts}, etcd ${filled['etcd']!.puts}`);
  }, 120_000);

  it('lists the alarm, shows it in endpoint status, refuses puts and lease grants, serves reads and deletes', async () => {
    expect(await same((s) => ctl(s, ['alarm', 'list']))).toEqual({ code: 0, out: 'memberID:MEMBER alarm:NOSPACE \n' });
    await same(async (s) => /"errors":\[[^\]]*\]/.exec((await ctl(s, ['endpoint', 'status', '-w', 'json'])).out)?.[0]);
    // etcd 3.4 leaves Status.dbSizeQuota 0; raftkv reports the quota in force.
    const c = connect(subjects[0]!.server.endpoint);
    try {
      expect((await c.status()).dbSizeQuota).toBe(BigInt(QUOTA_BYTES));
    } finally {
      c.close();
    }
    expect(await same((s) => ctl(s, ['put', 'x', 'y']))).toEqual({ code: 1, out: 'Error: etcdserver: mvcc: database space exceeded' });
    expect(await same((s) => ctl(s, ['lease', 'grant', '100']))).toMatchObject({ code: 1 });
    expect(await same((s) => ctl(s, ['get', 'k3', '--keys-only']))).toEqual({ code: 0, out: 'k3\n\n' });
    expect(await same((s) => ctl(s, ['del', 'k1']))).toEqual({ code: 0, out: '1\n' });
    // A txn that only deletes costs nothing: the capped cluster takes it.
    expect(await same(async (s) => (await etcdctl(s.server.endpoint, ['txn'], '\ndel k2\n\n\n')).stdout)).toBe('SUCCESS\n\n1\n');
  }, 60_000);

  it('keeps the alarm across a kill -9 and restart (raftkv)', async () => {
    const r = subjects[0]!;
    // A crash: whatever the backend had not committed comes back from the WAL.
    await r.server.kill();
    firstLife = r.server.output();
    r.server = await startRaftkv({ args, dataDir: r.server.dataDir });
    expect(await ctl(r, ['alarm', 'list'])).toEqual({ code: 0, out: 'memberID:MEMBER alarm:NOSPACE \n' });
    expect(await ctl(r, ['put', 'x', 'y'])).toEqual({ code: 1, out: 'Error: etcdserver: mvcc: database space exceeded' });
  }, 60_000);

  it('etcd: compact + disarm is not enough (the file keeps its size until defrag); compact + defrag + disarm restores writes', async () => {
    const e = subjects[1]!;
    expect((await ctl(e, ['compact', await revision(e), '--physical'])).code).toBe(0);
    expect(await ctl(e, ['alarm', 'disarm'])).toEqual({ code: 0, out: 'memberID:MEMBER alarm:NOSPACE \n' });
    expect(await ctl(e, ['put', 'x', 'y'])).toEqual({ code: 1, out: 'Error: etcdserver: mvcc: database space exceeded' });
    expect((await ctl(e, ['defrag'])).code).toBe(0);
    expect(await ctl(e, ['alarm', 'disarm'])).toEqual({ code: 0, out: 'memberID:MEMBER alarm:NOSPACE \n' });
    expect(await ctl(e, ['put', 'x', 'y'])).toEqual({ code: 0, out: 'OK\n' });
  }, 60_000);

  it('raftkv: compact + disarm restores writes (the pages compaction frees are reused), and the member stays below its quota', async () => {
    const r = subjects[0]!;
    expect((await ctl(r, ['compact', await revision(r), '--physical'])).code).toBe(0);
    expect(await ctl(r, ['alarm', 'disarm'])).toEqual({ code: 0, out: 'memberID:MEMBER alarm:NOSPACE \n' });
    expect(await ctl(r, ['put', 'x', 'y'])).toEqual({ code: 0, out: 'OK\n' });
    expect(await ctl(r, ['alarm', 'list'])).toEqual({ code: 0, out: '' });
    // Overwriting the same keys again fits: the freed pages are reused rather than the file grown.
    const c = connect(r.server.endpoint);
    try {
      for (let i = 0; i < 40; i++) expect(await outcome(c.put({ key: Buffer.from(`k${i % 20}`), value: VALUE }))).not.toHaveProperty('error');
    } finally {
      c.close();
    }
    const log = r.server.output();
    expect(log).toMatch(/"msg":"alarm disarmed","alarm":"NOSPACE"/);
  }, 60_000);

  it('says in the log what was exceeded and how to recover (raftkv)', () => {
    const lines = firstLife.split('\n').filter((l) => l.includes('backend quota exceeded'));
    expect(lines.length).toBeGreaterThan(0);
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 'warn', 'quota-size-bytes': QUOTA_BYTES, 'quota-size': '17 MB' });
    expect(line['compactable-revisions']).toBeGreaterThan(0);
    expect(String(line['recovery'])).toMatch(/etcdctl compact .*etcdctl alarm disarm/);
  });
});

describe('a quota smaller than an empty backend (etcd has no minimum)', () => {
  const servers: ServerProcess[] = [];
  afterAll(async () => {
    for (const s of servers) {
      await s.stop();
      removeDir(s.dataDir);
    }
  });

  it('refuses the first put and raises NOSPACE, as etcd 3.4 does; reads and deletes still answer', async () => {
    const args = ['--quota-backend-bytes', '1'];
    const [r, e] = await Promise.all([startRaftkv({ args }), startEtcd({ args })]);
    servers.push(r, e);
    const run = async (s: ServerProcess, a: string[]) => {
      const out = await etcdctl(s.endpoint, a);
      return { code: out.code, out: out.stdout + out.stderr.split('\n').filter((l) => l.startsWith('Error:')).join('\n') };
    };
    for (const a of [['put', 'a', 'b'], ['get', 'a'], ['del', 'a']]) expect(await run(r, a), a.join(' ')).toEqual(await run(e, a));
    expect(await run(r, ['put', 'a', 'b'])).toEqual({ code: 1, out: 'Error: etcdserver: mvcc: database space exceeded' });
    expect((await run(r, ['alarm', 'list'])).out).toMatch(/^memberID:\d+ alarm:NOSPACE \n$/);
  }, 60_000);
});
