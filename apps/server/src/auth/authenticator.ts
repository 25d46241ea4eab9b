import { status, type Metadata } from '@grpc/grpc-js';
import { EtcdError, EtcdErrors } from '@raftkv/api';
import type { RequestAuth } from '../apply/request-codec.js';
import { clientIdentity, connectionKeyOfCall } from '../security/client-identities.js';
import type { AuthInfo, AuthStore } from './auth-store.js';
import type { TokenProvider } from './tokens.js';

/** What a gRPC call offers to identify its sender. */
export interface CallCredentials {
  metadata: Metadata;
}

/**
 * Who a client call comes from (etcd's EtcdServer.AuthInfoFromCtx): the `token` metadata
 * (etcd 3.4 also reads `authorization`, the gateway's name) or, with --client-cert-auth and no
 * token, the Common Name of the verified client certificate. A token that names no one is
 * refused (`etcdserver: invalid auth token`), whether auth is on or not, as in etcd.
 */
export class Authenticator {
  constructor(
    readonly store: AuthStore,
    readonly tokens: TokenProvider,
    private readonly clientCertAuth: boolean,
  ) {}

  /** The caller, undefined when it gave no token and no certificate name. Throws InvalidAuthToken. */
  async authInfo(call: CallCredentials): Promise<AuthInfo | undefined> {
    const token = first(call.metadata, 'token') ?? first(call.metadata, 'authorization');
    if (token !== undefined) {
      const ai = await this.tokens.info(token, this.store.revision);
      if (!ai) throw EtcdErrors.InvalidAuthToken;
      return ai;
    }
    if (!this.clientCertAuth) return undefined;
    // etcd ignores the certificate of a request relayed by its own gRPC gateway.
    if (call.metadata.get('grpcgateway-accept').length > 0) return undefined;
    const key = connectionKeyOfCall(call);
    const cn = key === undefined ? undefined : clientIdentity(key);
    return cn === undefined ? undefined : { username: cn, revision: this.store.revision };
  }

  /** What a proposal carries into the log: the caller, or no one ('' at revision 0). */
  requester(call: CallCredentials): RequestAuth | Promise<RequestAuth> {
    // Most calls carry no token and the server takes no client certificates: answered without
    // the two async frames (promises, contexts) authInfo costs on every write.
    if (!this.clientCertAuth && first(call.metadata, 'token') === undefined && first(call.metadata, 'authorization') === undefined) {
      return { username: '', revision: 0 };
    }
    return this.authInfo(call).then((ai) => ai ?? { username: '', revision: 0 });
  }

  /**
   * etcd's doSerialize for reads served locally: check, read, then refuse the answer if the
   * auth store changed meanwhile (the read may have used revoked rights).
   */
  async serialized<T>(call: CallCredentials, check: (ai: AuthInfo) => void, read: () => T | Promise<T>): Promise<T> {
    const ai = (await this.authInfo(call)) ?? { username: '', revision: 0 };
    check(ai);
    const result = await read();
    if (ai.revision !== 0 && ai.revision !== this.store.revision) throw EtcdErrors.AuthOldRevision;
    return result;
  }

  /** etcd's IsAdminPermitted for the caller (membership RPCs). */
  async checkAdmin(call: CallCredentials): Promise<void> {
    this.store.checkAdmin(await this.authInfo(call));
  }

  /**
   * The same check for Maintenance's Hash, HashKV, Defragment and Snapshot: etcd's
   * authMaintenanceServer returns the auth package's own errors, which gRPC sends as UNKNOWN
   * with their "auth: ..." text.
   */
  async checkAdminRaw(call: CallCredentials): Promise<void> {
    try {
      await this.checkAdmin(call);
    } catch (err) {
      const raw = RAW_AUTH_ERRORS.find(([known]) => known.is(err));
      throw raw ? new EtcdError(status.UNKNOWN, raw[1]) : err;
    }
  }
}

const RAW_AUTH_ERRORS: Array<[EtcdError, string]> = [
  [EtcdErrors.UserEmpty, 'auth: user name is empty'],
  [EtcdErrors.UserNotFound, 'auth: user not found'],
  [EtcdErrors.PermissionDenied, 'auth: permission denied'],
  [EtcdErrors.InvalidAuthToken, 'auth: invalid auth token'],
];

function first(md: Metadata, key: string): string | undefined {
  const v = md.get(key)[0];
  return v === undefined ? undefined : v.toString();
}
