import { authpb, EtcdError, EtcdErrors } from '@raftkv/api';
import type { Bucket, MvccStore } from '@raftkv/mvcc';
import { RangePermissions } from './range-permissions.js';

/** etcd 3.5's ErrGRPCPermissionNotGiven. */
const PERMISSION_NOT_GIVEN = new EtcdError(3 /* INVALID_ARGUMENT */, 'etcdserver: permission not given');

export const ROOT_USER = 'root';
export const ROOT_ROLE = 'root';

/** etcd's bucket and key names (auth/store.go), so a bbolt snapshot can carry them as they are. */
export const AUTH_BUCKET = 'auth';
export const AUTH_USERS_BUCKET = 'authUsers';
export const AUTH_ROLES_BUCKET = 'authRoles';
export const AUTH_ENABLED_KEY = Buffer.from('authEnabled');
export const AUTH_REVISION_KEY = Buffer.from('authRevision');

/** Who a request comes from, and the auth revision its credentials were checked at (etcd's AuthInfo). */
export interface AuthInfo {
  username: string;
  revision: number;
}

/** The auth store's whole state, as its three backend buckets hold it. */
export interface AuthState {
  enabled: boolean;
  revision: number;
  /** By name (byte order, as bbolt iterates); `password` is the bcrypt hash ($2a$), empty for --no-password users. */
  users: authpb.User[];
  /** By name; permissions sorted by key. */
  roles: authpb.Role[];
}

const byName = (a: { name: Buffer }, b: { name: Buffer }): number => Buffer.compare(a.name, b.name);

/**
 * Reads the committed auth state from a store's buckets (what a bbolt snapshot of this member
 * carries in etcd's `auth`, `authUsers` and `authRoles` buckets). Revision 0 means the store
 * never opened an AuthStore (etcd starts at 1).
 */
export function readAuthState(store: MvccStore): AuthState {
  let enabled = false;
  let revision = 0;
  for (const { key, value } of store.bucket(AUTH_BUCKET).loadAll()) {
    if (AUTH_ENABLED_KEY.equals(key)) enabled = value.length === 1 && value[0] === 1;
    if (AUTH_REVISION_KEY.equals(key) && value.length === 8) revision = Number(Buffer.from(value).readBigUInt64BE());
  }
  const users = [...store.bucket(AUTH_USERS_BUCKET).loadAll()].map((r) => authpb.User.decode(r.value)).sort(byName);
  const roles = [...store.bucket(AUTH_ROLES_BUCKET).loadAll()].map((r) => authpb.Role.decode(r.value)).sort(byName);
  return { enabled, revision, users, roles };
}

function revisionBytes(rev: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(rev));
  return b;
}

/**
 * etcd's auth store (auth/store.go): users, roles, permissions, the enabled flag and the auth
 * revision, which every change bumps. Changed only by applying log entries, so every member
 * holds the same state at the same index; kept in the backend's `authUsers`, `authRoles` and
 * `auth` buckets, committed with the entry that changed it (so a restart or a snapshot from the
 * leader brings it along). Passwords arrive here already hashed: bcrypt runs before proposing.
 * Errors are thrown as etcd's (EtcdErrors), identical on every member.
 */
export class AuthStore {
  private users = new Map<string, authpb.User>();
  private roles = new Map<string, authpb.Role>();
  private enabled = false;
  private rev = 0;
  /** username → what its roles grant (etcd's rangePermCache), rebuilt on every change. */
  private perms = new Map<string, RangePermissions>();
  /** Told when auth is enabled or disabled, or a user's tokens must go (deleted, password changed). */
  onTokensInvalid: (change: { kind: 'enabled' | 'disabled' } | { kind: 'user'; username: string }) => void = () => {};

  constructor(private readonly store: MvccStore) {
    this.reload();
  }

  private get usersBucket(): Bucket { return this.store.bucket(AUTH_USERS_BUCKET); }
  private get rolesBucket(): Bucket { return this.store.bucket(AUTH_ROLES_BUCKET); }
  private get authBucket(): Bucket { return this.store.bucket(AUTH_BUCKET); }

  /** Rebuilds from the buckets (at open, and after a snapshot replaced the backend). */
  reload(): void {
    const state = readAuthState(this.store);
    const wasEnabled = this.enabled;
    this.users = new Map(state.users.map((u) => [u.name.toString(), u]));
    this.roles = new Map(state.roles.map((r) => [r.name.toString(), r]));
    this.enabled = state.enabled;
    this.rev = state.revision;
    if (this.rev === 0) {
      // etcd's NewAuthStore: a new store starts at revision 1. Written the same on every member.
      this.rev = 1;
      this.authBucket.put(AUTH_REVISION_KEY, revisionBytes(1));
    }
    this.refreshPermissions();
    if (wasEnabled !== this.enabled) this.onTokensInvalid({ kind: this.enabled ? 'enabled' : 'disabled' });
  }

  get isEnabled(): boolean { return this.enabled; }
  get revision(): number { return this.rev; }

  /** The state as the buckets hold it (what is applied, committed or not). */
  state(): AuthState {
    return {
      enabled: this.enabled, revision: this.rev,
      users: [...this.users.values()].sort(byName), roles: [...this.roles.values()].sort(byName),
    };
  }

  // ---------------------------------------------------------------- changes (apply only)

  enable(): void {
    if (this.enabled) return;
    const root = this.users.get(ROOT_USER);
    if (!root) throw EtcdErrors.RootUserNotExist;
    if (!root.roles.includes(ROOT_ROLE)) throw EtcdErrors.RootRoleNotExist;
    this.authBucket.put(AUTH_ENABLED_KEY, Buffer.of(1));
    this.enabled = true;
    // As etcd: enabling does not bump the revision.
    this.refreshPermissions();
    this.onTokensInvalid({ kind: 'enabled' });
  }

  disable(): void {
    if (!this.enabled) return;
    this.authBucket.put(AUTH_ENABLED_KEY, Buffer.of(0));
    this.enabled = false;
    this.commitRevision();
    this.onTokensInvalid({ kind: 'disabled' });
  }

  /** `hashedPassword`: bcrypt of the password, computed before proposing; empty with noPassword. */
  userAdd(name: string, hashedPassword: string, noPassword: boolean): void {
    if (name.length === 0) throw EtcdErrors.UserEmpty;
    if (this.users.has(name)) throw EtcdErrors.UserAlreadyExist;
    this.putUser({
      name: Buffer.from(name), password: noPassword ? Buffer.alloc(0) : Buffer.from(hashedPassword),
      roles: [], options: { noPassword },
    });
    this.changed();
  }

  userDelete(name: string): void {
    if (this.enabled && name === ROOT_USER) throw EtcdErrors.InvalidAuthMgmt;
    if (!this.users.has(name)) throw EtcdErrors.UserNotFound;
    this.users.delete(name);
    this.usersBucket.delete(Buffer.from(name));
    this.changed();
    this.onTokensInvalid({ kind: 'user', username: name });
  }

  userChangePassword(name: string, hashedPassword: string): void {
    const user = this.users.get(name);
    if (!user) throw EtcdErrors.UserNotFound;
    this.putUser({ ...user, password: Buffer.from(hashedPassword) });
    this.changed();
    this.onTokensInvalid({ kind: 'user', username: name });
  }

  userGrantRole(name: string, role: string): void {
    const user = this.users.get(name);
    if (!user) throw EtcdErrors.UserNotFound;
    // etcd lets the root role be granted before it exists.
    if (role !== ROOT_ROLE && !this.roles.has(role)) throw EtcdErrors.RoleNotFound;
    if (user.roles.includes(role)) return; // etcd: no change, no new revision
    this.putUser({ ...user, roles: [...user.roles, role].sort(goStringCompare) });
    this.changed();
  }

  userRevokeRole(name: string, role: string): void {
    if (this.enabled && name === ROOT_USER && role === ROOT_ROLE) throw EtcdErrors.InvalidAuthMgmt;
    const user = this.users.get(name);
    if (!user) throw EtcdErrors.UserNotFound;
    const roles = user.roles.filter((r) => r !== role);
    if (roles.length === user.roles.length) throw EtcdErrors.RoleNotGranted;
    this.putUser({ ...user, roles });
    this.changed();
  }

  roleAdd(name: string): void {
    if (name.length === 0) throw EtcdErrors.RoleEmpty;
    if (this.roles.has(name)) throw EtcdErrors.RoleAlreadyExist;
    this.putRole({ name: Buffer.from(name), keyPermission: [] });
    // etcd 3.4 does not refresh its permission cache here: a new role grants nothing yet.
    this.commitRevision();
  }

  roleDelete(name: string): void {
    if (this.enabled && name === ROOT_ROLE) throw EtcdErrors.InvalidAuthMgmt;
    if (!this.roles.has(name)) throw EtcdErrors.RoleNotFound;
    this.roles.delete(name);
    this.rolesBucket.delete(Buffer.from(name));
    for (const user of this.users.values()) {
      if (user.roles.includes(name)) this.putUser({ ...user, roles: user.roles.filter((r) => r !== name) });
    }
    this.changed();
  }

  /**
   * Adds a permission, or changes the type of the one on the same key and range end (etcd's
   * RoleGrantPermission). Without a permission: etcd 3.4 crashes every member applying it once
   * the role is found; refused there with etcd 3.5's error instead.
   */
  roleGrantPermission(name: string, perm: authpb.Permission | undefined): void {
    const role = this.roles.get(name);
    if (!role) throw EtcdErrors.RoleNotFound;
    if (!perm) throw PERMISSION_NOT_GIVEN;
    const key = Buffer.from(perm.key);
    const rangeEnd = Buffer.from(perm.rangeEnd);
    const perms = role.keyPermission.map((p) => ({ ...p }));
    // etcd looks only at the first permission with a key >= this one (sort.Search).
    const idx = perms.findIndex((p) => Buffer.compare(p.key, key) >= 0);
    if (idx >= 0 && perms[idx]!.key.equals(key) && perms[idx]!.rangeEnd.equals(rangeEnd)) {
      perms[idx]!.permType = perm.permType;
    } else {
      perms.push({ permType: perm.permType, key, rangeEnd });
      stableSortByKey(perms);
    }
    this.putRole({ name: role.name, keyPermission: perms });
    this.changed();
  }

  roleRevokePermission(name: string, key: Uint8Array, rangeEnd: Uint8Array): void {
    const role = this.roles.get(name);
    if (!role) throw EtcdErrors.RoleNotFound;
    const k = Buffer.from(key);
    const e = Buffer.from(rangeEnd);
    const perms = role.keyPermission.filter((p) => !p.key.equals(k) || !p.rangeEnd.equals(e));
    if (perms.length === role.keyPermission.length) throw EtcdErrors.PermissionNotGranted;
    this.putRole({ name: role.name, keyPermission: perms });
    this.changed();
  }

  // ---------------------------------------------------------------- reads

  user(name: string): authpb.User | undefined {
    return this.users.get(name);
  }

  userGet(name: string): string[] {
    const user = this.users.get(name);
    if (!user) throw EtcdErrors.UserNotFound;
    return [...user.roles];
  }

  userList(): string[] {
    return [...this.users.values()].sort(byName).map((u) => u.name.toString());
  }

  roleGet(name: string): authpb.Permission[] {
    const role = this.roles.get(name);
    if (!role) throw EtcdErrors.RoleNotFound;
    return role.keyPermission.map((p) => ({ ...p }));
  }

  roleList(): string[] {
    return [...this.roles.values()].sort(byName).map((r) => r.name.toString());
  }

  hasRole(user: string, role: string): boolean {
    return this.users.get(user)?.roles.includes(role) ?? false;
  }

  // ---------------------------------------------------------------- checks

  /** etcd's isOpPermitted: nothing when auth is off; otherwise the user, a current revision and a covering permission. */
  private checkOp(ai: AuthInfo | undefined, key: Uint8Array, rangeEnd: Uint8Array | undefined, type: 'read' | 'write'): void {
    if (!this.enabled) return;
    if (!ai || ai.revision === 0) throw EtcdErrors.UserEmpty;
    if (ai.revision < this.rev) throw EtcdErrors.AuthOldRevision;
    const user = this.users.get(ai.username);
    if (!user) throw EtcdErrors.PermissionDenied;
    if (user.roles.includes(ROOT_ROLE)) return;
    if (this.perms.get(ai.username)?.permits(type, key, rangeEnd) === true) return;
    throw EtcdErrors.PermissionDenied;
  }

  checkRange(ai: AuthInfo | undefined, key: Uint8Array, rangeEnd?: Uint8Array): void {
    this.checkOp(ai, key, rangeEnd, 'read');
  }

  checkPut(ai: AuthInfo | undefined, key: Uint8Array): void {
    this.checkOp(ai, key, undefined, 'write');
  }

  checkDeleteRange(ai: AuthInfo | undefined, key: Uint8Array, rangeEnd?: Uint8Array): void {
    this.checkOp(ai, key, rangeEnd, 'write');
  }

  /** etcd's IsAdminPermitted: the user must hold the root role (no revision check, as etcd). */
  checkAdmin(ai: AuthInfo | undefined): void {
    if (!this.enabled) return;
    if (!ai || ai.username === '') throw EtcdErrors.UserEmpty;
    const user = this.users.get(ai.username);
    if (!user) throw EtcdErrors.UserNotFound;
    if (!user.roles.includes(ROOT_ROLE)) throw EtcdErrors.PermissionDenied;
  }

  // ---------------------------------------------------------------- internals

  private putUser(user: authpb.User): void {
    this.users.set(user.name.toString(), user);
    this.usersBucket.put(user.name, authpb.User.encode(user).finish());
  }

  private putRole(role: authpb.Role): void {
    this.roles.set(role.name.toString(), role);
    this.rolesBucket.put(role.name, authpb.Role.encode(role).finish());
  }

  private changed(): void {
    this.commitRevision();
    this.refreshPermissions();
  }

  private commitRevision(): void {
    this.rev++;
    this.authBucket.put(AUTH_REVISION_KEY, revisionBytes(this.rev));
  }

  private refreshPermissions(): void {
    this.perms = new Map();
    for (const [name, user] of this.users) {
      this.perms.set(name, new RangePermissions(user.roles.flatMap((r) => this.roles.get(r)?.keyPermission ?? [])));
    }
  }
}

/** Go's string order (bytes of UTF-8), which etcd's sort.Strings uses for a user's roles. */
function goStringCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** Go's sort.Sort is not stable, but keys of one role are distinct unless range ends differ; keep insertion order then. */
function stableSortByKey(perms: authpb.Permission[]): void {
  perms.sort((a, b) => Buffer.compare(a.key, b.key));
}
