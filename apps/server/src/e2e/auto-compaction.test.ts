// --auto-compaction-mode/-retention with the real binary, beside etcd 3.4 where its timing
// allows (etcd's revision compactor looks every 5 minutes; raftkv's test knob shortens that).
// Waits on events (a compacted revision, a log line) with generous deadlines, never on time.
import { afterAll, describe, expect, it } from 'vitest';
import { etcdctl, removeDir, startEtcd, startRaftkv, type ServerProcess } from '@raftkv/testkit';

const DEADLINE_MS = 60_000;
const COMPACTED = 'Error: etcdserver: mvcc: required revision has been compacted';

/** Polls `check` (doing `between` each round) until it returns a value, or fails after the deadline. */
async function until<T>(what: string, check: () => Promise<T | undefined>, between: () => Promise<unknown> = async () => {}): Promise<T> {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`no ${what} within ${DEADLINE_MS} ms`);
    await between();
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function getAt(endpoint: string, key: string, rev: number): Promise<string> {
  const r = await etcdctl(endpoint, ['get', key, `--rev=${rev}`, '--print-value-only']);
  return r.code === 0 ? r.stdout.trim() : r.stderr.split('\n').find((l) => l.startsWith('Error:')) ?? r.stderr;
}

/** The log lines (as objects) whose msg matches. */
function logLines(output: string, msg: RegExp): Array<Record<string, unknown>> {
  return output.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => msg.test(String(l['msg'])));
}

describe('auto compaction', () => {
  const servers: ServerProcess[] = [];
  afterAll(async () => {
    for (const s of servers) {
      await s.stop();
      removeDir(s.dataDir);
    }
  });

  it('periodic 1s: compacts the history of a second ago as etcd does, and logs it as etcd does', async () => {
    const args = ['--auto-compaction-mode', 'periodic', '--auto-compaction-retention', '1s'];
    const [raftkv, etcd] = await Promise.all([startRaftkv({ args }), startEtcd({ args })]);
    servers.push(raftkv, etcd);
    for (const s of [raftkv, etcd]) {
      let n = 0;
      expect((await etcdctl(s.endpoint, ['put', 'a', 'first'])).code).toBe(0);
      // Revision 2 holds "first"; writes go on until a compaction passes it.
      await until('compaction of revision 2', async () => ((await getAt(s.endpoint, 'a', 2)) === COMPACTED ? true : undefined),
        () => etcdctl(s.endpoint, ['put', 'a', String(n++)]));
      // The current value is never compacted away.
      expect((await etcdctl(s.endpoint, ['get', 'a', '--print-value-only'])).stdout).toBe(`${n - 1}\n`);
    }
    // etcd 3.4's zap lines (--logger zap, which the test harness cannot wait on): msg, revision,
    // compact-period ("1s"), and took on completion.
    const shape = (s: ServerProcess) => logLines(s.output(), /auto periodic compaction/).slice(0, 2)
      .map((l) => ({ msg: l['msg'], fields: Object.keys(l).filter((k) => !['level', 'ts', 'caller', 'msg'].includes(k)).sort(), period: l['compact-period'] }));
    expect(shape(raftkv)).toEqual([
      { msg: 'starting auto periodic compaction', fields: ['compact-period', 'revision'], period: '1s' },
      { msg: 'completed auto periodic compaction', fields: ['compact-period', 'revision', 'took'], period: '1s' },
    ]);
  }, 3 * DEADLINE_MS);

  it('revision 10: compacts at the current revision minus 10, once writes stop', async () => {
    const raftkv = await startRaftkv({
      args: ['--auto-compaction-mode', 'revision', '--auto-compaction-retention', '10'],
      env: { RAFTKV_AUTO_COMPACTION_REVISION_INTERVAL_MS: '200' },
    });
    servers.push(raftkv);
    for (let i = 1; i <= 30; i++) expect((await etcdctl(raftkv.endpoint, ['put', 'k', String(i)])).code).toBe(0);
    // Revision 31 is the last: the compactor settles at 21.
    await until('a compaction at revision 21', async () =>
      (logLines(raftkv.output(), /completed auto revision compaction/).some((l) => l['revision'] === 21) ? true : undefined));
    expect(await getAt(raftkv.endpoint, 'k', 20)).toBe(COMPACTED);
    expect(await getAt(raftkv.endpoint, 'k', 21)).toBe('20');
    const done = logLines(raftkv.output(), /completed auto revision compaction/).at(-1)!;
    expect(done).toMatchObject({ level: 'info', revision: 21, 'revision-compaction-retention': 10 });
    // Nothing new to compact: no compaction at 21 again.
    expect(logLines(raftkv.output(), /starting auto revision compaction/).filter((l) => l['revision'] === 21)).toHaveLength(1);
  }, 2 * DEADLINE_MS);
});
