import { status } from '@grpc/grpc-js';
import { EtcdError, EtcdErrors, type etcdserverpb } from '@raftkv/api';
import type { AuthRequest } from '../apply/request-codec.js';
import { checkPassword, hashPassword } from '../auth/password.js';
import { AuthTokenError } from '../auth/tokens.js';
import type { ServerCore } from '../server-core.js';
import { unary, type UnaryCall } from './unary.js';

/** etcd's ErrNoPasswordUser is missing from its gRPC error map: clients get it as UNKNOWN with this text. */
const NO_PASSWORD_USER = new EtcdError(status.UNKNOWN, 'auth: authentication failed, password was given for no password user');

/**
 * The Auth service. Every RPC goes through the log as in etcd 3.4 (reads too), carrying the
 * caller, so the admin check happens at apply against the auth store of that index. Passwords
 * are hashed (bcrypt, --bcrypt-cost) and checked before proposing, off the event loop; only
 * hashes reach the log.
 */
export function authService(core: ServerCore): etcdserverpb.AuthServer {
  const authn = core.authenticator;
  const header = () => core.header(core.store.currentRevision);
  const run = async (call: UnaryCall, auth: AuthRequest) => {
    core.refuseOnLearner();
    return core.authRequest(auth, await authn.requester(call));
  };
  // A member given only the JWT public key verifies tokens and issues none: etcd's raw error.
  const signed = (name: string, revision: number): Promise<string> => authn.tokens.sign(name, revision).catch((err: unknown) => {
    throw err instanceof AuthTokenError ? new EtcdError(status.UNKNOWN, err.message) : err;
  });
  return {
    authEnable: unary(async (req: etcdserverpb.AuthEnableRequest, call) => {
      await run(call, { op: 'authEnable', req });
      return { header: header() };
    }),
    authDisable: unary(async (req: etcdserverpb.AuthDisableRequest, call) => {
      await run(call, { op: 'authDisable', req });
      return { header: header() };
    }),
    // etcd 3.4.23 does not serve AuthStatus (3.5).
    authStatus: (_call, callback) => {
      callback(new EtcdError(status.UNIMPLEMENTED, 'unknown method AuthStatus for service etcdserverpb.Auth').toServiceError());
    },
    authenticate: unary(async (req: etcdserverpb.AuthenticateRequest) => {
      core.refuseOnLearner();
      await core.linearizableRead();
      // etcd's loop: if the auth store changed while the password was checked, check again.
      for (;;) {
        const store = core.auth;
        if (!store.isEnabled) throw EtcdErrors.AuthNotEnabled;
        const user = store.user(req.name);
        if (!user) throw EtcdErrors.AuthFailed;
        if (user.options?.noPassword) throw NO_PASSWORD_USER;
        const checkedRevision = store.revision;
        if (!(await checkPassword(req.password, user.password))) throw EtcdErrors.AuthFailed;
        const r = await core.authRequest({ op: 'authenticate', req: { name: req.name, password: authn.tokens.genPrefix() } });
        if (checkedRevision !== core.auth.revision) continue;
        const token = authn.tokens.type === 'jwt' ? await signed(req.name, r.authRevision) : r.token ?? '';
        return { header: header(), token };
      }
    }),
    userAdd: unary(async (req: etcdserverpb.AuthUserAddRequest, call) => {
      const noPassword = req.options?.noPassword === true;
      const hashedPassword = noPassword || req.name === '' ? '' : await hashPassword(req.password, core.config.bcryptCost);
      await run(call, { op: 'userAdd', req: { name: req.name, password: '', options: { noPassword }, hashedPassword } });
      return { header: header() };
    }),
    userGet: unary(async (req: etcdserverpb.AuthUserGetRequest, call) => {
      const r = await run(call, { op: 'userGet', req });
      return { header: header(), roles: r.roles ?? [] };
    }),
    userList: unary(async (req: etcdserverpb.AuthUserListRequest, call) => {
      const r = await run(call, { op: 'userList', req });
      return { header: header(), users: r.users ?? [] };
    }),
    userDelete: unary(async (req: etcdserverpb.AuthUserDeleteRequest, call) => {
      await run(call, { op: 'userDelete', req });
      return { header: header() };
    }),
    userChangePassword: unary(async (req: etcdserverpb.AuthUserChangePasswordRequest, call) => {
      const hashedPassword = await hashPassword(req.password, core.config.bcryptCost);
      await run(call, { op: 'userChangePassword', req: { name: req.name, password: '', hashedPassword } });
      return { header: header() };
    }),
    userGrantRole: unary(async (req: etcdserverpb.AuthUserGrantRoleRequest, call) => {
      await run(call, { op: 'userGrantRole', req });
      return { header: header() };
    }),
    userRevokeRole: unary(async (req: etcdserverpb.AuthUserRevokeRoleRequest, call) => {
      await run(call, { op: 'userRevokeRole', req });
      return { header: header() };
    }),
    roleAdd: unary(async (req: etcdserverpb.AuthRoleAddRequest, call) => {
      await run(call, { op: 'roleAdd', req });
      return { header: header() };
    }),
    roleGet: unary(async (req: etcdserverpb.AuthRoleGetRequest, call) => {
      const r = await run(call, { op: 'roleGet', req });
      return { header: header(), perm: r.perm ?? [] };
    }),
    roleList: unary(async (req: etcdserverpb.AuthRoleListRequest, call) => {
      const r = await run(call, { op: 'roleList', req });
      return { header: header(), roles: r.roles ?? [] };
    }),
    roleDelete: unary(async (req: etcdserverpb.AuthRoleDeleteRequest, call) => {
      await run(call, { op: 'roleDelete', req });
      return { header: header() };
    }),
    roleGrantPermission: unary(async (req: etcdserverpb.AuthRoleGrantPermissionRequest, call) => {
      await run(call, { op: 'roleGrantPermission', req });
      return { header: header() };
    }),
    roleRevokePermission: unary(async (req: etcdserverpb.AuthRoleRevokePermissionRequest, call) => {
      await run(call, { op: 'roleRevokePermission', req });
      return { header: header() };
    }),
  };
}
