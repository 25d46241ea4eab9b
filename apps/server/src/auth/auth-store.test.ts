import { authpb, EtcdErrors } from '@raftkv/api';
import { MvccStore } from '@raftkv/mvcc';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AuthStore, readAuthState } from './auth-store.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
async function open(dir?: string): Promise<{ store: MvccStore; auth: AuthStore; dir: string }> {
  const d = dir ?? mkdtempSync(join(tmpdir(), 'auth-store-'));
  if (!dir) dirs.push(d);
  const store = await MvccStore.open({ dir: d });
  return { store, auth: new AuthStore(store), dir: d };
}
const b = (s: string) => Buffer.from(s);
const rw = (key: string, rangeEnd = '') => ({ permType: authpb.Permission_Type.READWRITE, key: b(key), rangeEnd: b(rangeEnd) });

describe('AuthStore', () => {
  it('starts at revision 1, refuses enabling without a root user holding the root role, and bumps the revision on each change as etcd', async () => {
    const { store, auth } = await open();
    expect(auth.revision).toBe(1);
    expect(() => auth.enable()).toThrow(EtcdErrors.RootUserNotExist.message);
    auth.userAdd('root', '$2a$04$hash', false);
    expect(auth.revision).toBe(2);
    expect(() => auth.enable()).toThrow(EtcdErrors.RootRoleNotExist.message);
    auth.userGrantRole('root', 'root'); // the root role may be granted before it exists
    auth.userGrantRole('root', 'root'); // a second grant changes nothing
    expect(auth.revision).toBe(3);
    auth.enable();
    expect(auth.isEnabled).toBe(true);
    expect(auth.revision).toBe(3); // enabling does not bump it (etcd)
    expect(() => auth.userDelete('root')).toThrow(EtcdErrors.InvalidAuthMgmt.message);
    expect(() => auth.userRevokeRole('root', 'root')).toThrow(EtcdErrors.InvalidAuthMgmt.message);
    expect(() => auth.roleDelete('root')).toThrow(EtcdErrors.InvalidAuthMgmt.message);
    auth.disable();
    expect(auth.revision).toBe(4);
    await store.close();
  });

  it.each<[string, (a: AuthStore) => void, string]>([
    ['an empty user name', (a) => a.userAdd('', '', true), EtcdErrors.UserEmpty.message],
    ['a user added twice', (a) => { a.userAdd('u', 'h', false); a.userAdd('u', 'h', false); }, EtcdErrors.UserAlreadyExist.message],
    ['a missing user deleted', (a) => a.userDelete('nobody'), EtcdErrors.UserNotFound.message],
    ['a missing user read', (a) => a.userGet('nobody'), EtcdErrors.UserNotFound.message],
    ['a role granted to a missing user', (a) => a.userGrantRole('nobody', 'r'), EtcdErrors.UserNotFound.message],
    ['a missing role granted', (a) => { a.userAdd('u', 'h', false); a.userGrantRole('u', 'r'); }, EtcdErrors.RoleNotFound.message],
    ['a role revoked that was not granted', (a) => { a.userAdd('u', 'h', false); a.userRevokeRole('u', 'r'); }, EtcdErrors.RoleNotGranted.message],
    ['an empty role name', (a) => a.roleAdd(''), EtcdErrors.RoleEmpty.message],
    ['a role added twice', (a) => { a.roleAdd('r'); a.roleAdd('r'); }, EtcdErrors.RoleAlreadyExist.message],
    ['a permission revoked that was not granted', (a) => { a.roleAdd('r'); a.roleRevokePermission('r', b('k'), b('')); }, EtcdErrors.PermissionNotGranted.message],
    ['a permission granted to a missing role', (a) => a.roleGrantPermission('r', rw('k')), EtcdErrors.RoleNotFound.message],
  ])('refuses %s with etcd\'s error', async (_name, act, message) => {
    const { store, auth } = await open();
    expect(() => act(auth)).toThrow(message);
    await store.close();
  });

  it('checks operations: root may do anything, others what their roles grant; an old revision and no user are refused', async () => {
    const { store, auth } = await open();
    auth.userAdd('root', 'h', false);
    auth.userGrantRole('root', 'root');
    auth.userAdd('u', 'h', false);
    auth.roleAdd('r');
    auth.roleGrantPermission('r', rw('a', 'c'));
    auth.userGrantRole('u', 'r');
    // Off: nothing is checked.
    expect(() => auth.checkPut(undefined, b('zzz'))).not.toThrow();
    auth.enable();
    const rev = auth.revision;
    expect(() => auth.checkPut({ username: 'u', revision: rev }, b('b'))).not.toThrow();
    expect(() => auth.checkRange({ username: 'u', revision: rev }, b('a'), b('c'))).not.toThrow();
    expect(() => auth.checkPut({ username: 'u', revision: rev }, b('c'))).toThrow(EtcdErrors.PermissionDenied.message);
    expect(() => auth.checkPut({ username: 'root', revision: rev }, b('zzz'))).not.toThrow();
    expect(() => auth.checkPut({ username: '', revision: 0 }, b('b'))).toThrow(EtcdErrors.UserEmpty.message);
    expect(() => auth.checkPut({ username: 'u', revision: rev - 1 }, b('b'))).toThrow(EtcdErrors.AuthOldRevision.message);
    expect(() => auth.checkAdmin({ username: 'u', revision: rev })).toThrow(EtcdErrors.PermissionDenied.message);
    expect(() => auth.checkAdmin({ username: 'gone', revision: rev })).toThrow(EtcdErrors.UserNotFound.message);
    expect(() => auth.checkAdmin(undefined)).toThrow(EtcdErrors.UserEmpty.message);
    // Revoking the role takes the right away at once (and bumps the revision).
    auth.roleRevokePermission('r', b('a'), b('c'));
    expect(() => auth.checkPut({ username: 'u', revision: auth.revision }, b('b'))).toThrow(EtcdErrors.PermissionDenied.message);
    await store.close();
  });

  it('keeps permissions sorted by key and updates the type of one granted again on the same range (etcd RoleGrantPermission)', async () => {
    const { store, auth } = await open();
    auth.roleAdd('r');
    auth.roleGrantPermission('r', rw('m'));
    auth.roleGrantPermission('r', rw('b', 'c'));
    auth.roleGrantPermission('r', { ...rw('m'), permType: authpb.Permission_Type.READ });
    expect(auth.roleGet('r').map((p) => [p.key.toString(), p.rangeEnd.toString(), p.permType])).toEqual([
      ['b', 'c', authpb.Permission_Type.READWRITE], ['m', '', authpb.Permission_Type.READ],
    ]);
    await store.close();
  });

  it('deleting a role takes it from every user; lists are in byte order', async () => {
    const { store, auth } = await open();
    for (const r of ['rb', 'ra']) auth.roleAdd(r);
    for (const u of ['ub', 'ua']) { auth.userAdd(u, 'h', false); auth.userGrantRole(u, 'rb'); auth.userGrantRole(u, 'ra'); }
    expect(auth.userGet('ua')).toEqual(['ra', 'rb']);
    auth.roleDelete('rb');
    expect(auth.userGet('ua')).toEqual(['ra']);
    expect(auth.userList()).toEqual(['ua', 'ub']);
    expect(auth.roleList()).toEqual(['ra']);
    await store.close();
  });

  it('persists in etcd\'s buckets with the entry\'s commit and comes back on reopen (readAuthState reads them)', async () => {
    const { store, auth, dir } = await open();
    auth.userAdd('root', '$2a$10$abc', false);
    auth.userGrantRole('root', 'root');
    auth.userAdd('np', '', true);
    auth.roleAdd('r');
    auth.roleGrantPermission('r', rw('k', '\0'));
    auth.enable();
    store.setConsistentIndex(5);
    await store.commit();
    await store.close();
    const again = await open(dir);
    const state = readAuthState(again.store);
    expect(state.enabled).toBe(true);
    expect(state.revision).toBe(auth.revision);
    expect(state.users.map((u) => [u.name.toString(), u.password.toString(), u.roles, u.options?.noPassword])).toEqual([
      ['np', '', [], true], ['root', '$2a$10$abc', ['root'], false],
    ]);
    expect(state.roles.map((r) => r.name.toString())).toEqual(['r']);
    expect(again.auth.isEnabled).toBe(true);
    expect(again.auth.roleGet('r')[0]!.rangeEnd).toEqual(Buffer.from([0]));
    await again.store.close();
  });
});
