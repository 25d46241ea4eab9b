// Auth requests are applied from the log, and every client request in the log is checked at
// apply against the auth store as it is at that index (etcd's authApplierV3): a user deleted or
// a permission revoked by an earlier entry refuses the requests proposed before it. Real
// MvccStore (LMDB) and Lessor.
import { authpb, EtcdErrors } from '@raftkv/api';
import { Lessor } from '@raftkv/lease';
import { MvccStore } from '@raftkv/mvcc';
import { putRequest, txnRequest } from '@raftkv/testkit';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Membership } from '../cluster/membership.js';
import { BackendLeaseStore } from '../lease/backend-lease-store.js';
import { Applier } from './applier.js';
import { encodeInternalRequest, type AuthRequest, type LogRequest, type RequestAuth } from './request-codec.js';

/** A log request before it gets its ID (Omit over each member of the union). */
type Entry = DistOmit<LogRequest>;
type DistOmit<T> = T extends unknown ? Omit<T, 'id'> : never;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'auth-apply-'));
  const store = await MvccStore.open({ dir });
  const lessor = new Lessor({ clock: { nowMs: () => 0 }, minTtlSeconds: 1, store: new BackendLeaseStore(store.bucket('lease')) });
  const membership = new Membership(store.bucket('members'), store.bucket('members_removed'));
  const applier = new Applier(store, lessor, membership, (e) => { throw e; }, (p) => { throw new Error(p.error); }, { intervalMs: 1, limitEntries: 1 });
  cleanups.push(async () => {
    await applier.flushed();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  let index = 0;
  let id = 1n;
  /** Applies the requests as ONE batch of entries (as raft hands them over) and returns each outcome. */
  const batch = async (...reqs: Array<Entry>): Promise<unknown[]> => {
    const entries = reqs.map((r) => ({ ...r, id: id++ }) as LogRequest);
    const results = entries.map((r) => applier.wait(r.id).then(
      (res) => (res.kind === 'auth' ? { ok: res.op, ...(res.roles ? { roles: res.roles } : {}), ...(res.token ? { token: res.token } : {}) } : { ok: res.kind }),
      (err: unknown) => ({ error: (err as Error).message }),
    ));
    applier.apply(entries.map((r) => ({ index: ++index, term: 1, data: encodeInternalRequest(r) })));
    return Promise.all(results);
  };
  return { applier, store, batch };
}

const auth = (a: AuthRequest, requester?: RequestAuth): Entry => ({ kind: 'auth', auth: a, ...(requester ? { requester } : {}) });
const b = (s: string) => Buffer.from(s);
const ROOT_SETUP = [
  auth({ op: 'userAdd', req: { name: 'root', password: '', hashedPassword: '$2a$04$x', options: { noPassword: false } } }),
  auth({ op: 'userGrantRole', req: { user: 'root', role: 'root' } }),
  auth({ op: 'userAdd', req: { name: 'u', password: '', hashedPassword: '$2a$04$x', options: { noPassword: false } } }),
  auth({ op: 'roleAdd', req: { name: 'r' } }),
  auth({ op: 'roleGrantPermission', req: { name: 'r', perm: { permType: authpb.Permission_Type.READWRITE, key: b('k'), rangeEnd: b('l') } } }),
  auth({ op: 'userGrantRole', req: { user: 'u', role: 'r' } }),
  auth({ op: 'authEnable', req: {} }),
];

describe('auth at apply', () => {
  it('applies the auth requests and checks client requests against the store of their index', async () => {
    const { applier, batch } = await setup();
    await batch(...ROOT_SETUP);
    const rev = applier.auth.revision;
    const u = { username: 'u', revision: rev };
    const put = (key: string, requester?: RequestAuth): Entry => ({ kind: 'put', put: putRequest({ key: b(key), value: b('v') }), ...(requester ? { requester } : {}) });
    expect(await batch(put('k1', u), put('z', u), put('k2', { username: '', revision: 0 }), put('z'))).toEqual([
      { ok: 'put' }, { error: EtcdErrors.PermissionDenied.message }, { error: EtcdErrors.UserEmpty.message },
      { ok: 'put' }, // no requester: the member's own proposal (lease expiry, compactor), never refused
    ]);
    // A txn: compares are reads, both branches' ops are checked, nested ones too.
    const txn = (key: string): Entry => ({ kind: 'txn', txn: txnRequest({ success: [{ requestTxn: txnRequest({ failure: [{ requestPut: putRequest({ key: b(key) }) }] }) }] }), requester: u });
    expect(await batch(txn('k3'), txn('m'))).toEqual([{ ok: 'txn' }, { error: EtcdErrors.PermissionDenied.message }]);
    // In one batch: a put proposed at revision `rev`, the user's deletion, then another put. The
    // deletion bumps the revision, so the later put carries an old one (etcd: ErrAuthOldRevision).
    expect(await batch(
      put('k4', u),
      auth({ op: 'userDelete', req: { name: 'u' } }, { username: 'root', revision: rev }),
      put('k5', u),
      put('k6', { username: 'u', revision: rev + 1 }),
    )).toEqual([
      { ok: 'put' }, { ok: 'userDelete' }, { error: EtcdErrors.AuthOldRevision.message }, { error: EtcdErrors.PermissionDenied.message },
    ]);
  });

  it('admin requests need root; a user reads itself and the roles it holds', async () => {
    const { applier, batch } = await setup();
    await batch(...ROOT_SETUP);
    const u = { username: 'u', revision: applier.auth.revision };
    expect(await batch(
      auth({ op: 'roleAdd', req: { name: 'x' } }, u),
      auth({ op: 'userGet', req: { name: 'u' } }, u),
      auth({ op: 'userGet', req: { name: 'root' } }, u),
      auth({ op: 'roleGet', req: { role: 'r' } }, u),
      auth({ op: 'userList', req: {} }, { username: '', revision: 0 }),
      auth({ op: 'authenticate', req: { name: 'u', password: 'abcdefghijklmnop' } }),
    )).toEqual([
      { error: EtcdErrors.PermissionDenied.message },
      { ok: 'userGet', roles: ['r'] },
      { error: EtcdErrors.PermissionDenied.message },
      { ok: 'roleGet' },
      { error: EtcdErrors.UserEmpty.message },
      { ok: 'authenticate', token: `abcdefghijklmnop.${ROOT_SETUP.length + 6}` }, // the token names the entry's index
    ]);
  });
});
