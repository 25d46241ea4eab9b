// The client's endpoints: one grpc-js channel per endpoint, failover between them, retries of
// calls only where a retry cannot apply a write twice, deadlines, cancellation and the auth token.
import {
  Client as GrpcClient, credentials, Metadata, status,
  type CallOptions, type ChannelCredentials, type ChannelOptions, type ClientDuplexStream, type ClientReadableStream, type ServiceError,
} from '@grpc/grpc-js';
import { etcdserverpb } from '@raftkv/api';
import { setMaxListeners } from 'node:events';
import {
  CancelledError, DeadlineExceededError, EtcdServerError, InvalidAuthTokenError, isServiceError, toClientError, UnavailableError,
  type EtcdClientError,
} from './errors.js';

/** A generated method definition of @raftkv/api (`etcdserverpb.KVService.range`, ...). */
export interface MethodDef<Req, Res> {
  readonly path: string;
  readonly requestSerialize: (value: Req) => Buffer;
  readonly responseDeserialize: (value: Buffer) => Res;
}

/**
 * When a failed call may be sent again:
 * - `idempotent`: reads and calls whose repetition changes nothing (range, status, revoke...):
 *   after any UNAVAILABLE error, on the next endpoint.
 * - `write`: only when the request surely was not applied: it never left the client (no
 *   connection), or the server refused it before proposing (`etcdserver: no leader`). A write whose
 *   outcome is unknown (connection lost mid-call, request timed out, leader changed) is never repeated.
 */
export type RetryPolicy = 'idempotent' | 'write';

export interface CallControl {
  /** Abort the call (rejects with CancelledError). */
  signal?: AbortSignal | undefined;
  /** Deadline for the whole call, retries included (rejects with DeadlineExceededError). */
  timeoutMs?: number | undefined;
}

export interface TlsOptions {
  /** PEM CA bundle that signs the servers' certificates; default: Node's root CAs. */
  ca?: Buffer | string;
  /** PEM client certificate and key, for servers with --client-cert-auth. */
  cert?: Buffer | string;
  key?: Buffer | string;
  /** Name checked against the server certificate instead of the endpoint's host. */
  serverName?: string;
}

export interface PoolOptions {
  endpoints: string[];
  tls?: TlsOptions | undefined;
  auth?: { username: string; password: string } | undefined;
  retryTimeoutMs: number;
  grpcOptions?: ChannelOptions | undefined;
  credentials?: ChannelCredentials | undefined;
}

interface Endpoint {
  readonly address: string;
  readonly grpc: GrpcClient;
}

const buf = (v: Buffer | string | undefined): Buffer | null => (v === undefined ? null : Buffer.from(v));

/** `host:port`, `http://host:port` or `https://host:port` → `host:port` and whether TLS is implied. */
export function parseEndpoint(endpoint: string): { address: string; https: boolean } {
  const m = /^(https?|unix|unixs):\/\/(.+?)\/?$/.exec(endpoint);
  if (m === null) return { address: endpoint, https: false };
  return { address: m[2]!, https: m[1] === 'https' || m[1] === 'unixs' };
}

// grpc-js's words for a call that never reached a server (so a write was not applied).
const NOT_SENT = /No connection established|ECONNREFUSED|Name resolution failed|failed to connect|ENOTFOUND|EHOSTUNREACH/i;

/** Sleeps `ms`, or rejects with CancelledError when `signal` fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new CancelledError('call cancelled', status.CANCELLED));
    const onAbort = (): void => { clearTimeout(t); reject(new CancelledError('call cancelled', status.CANCELLED)); };
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export class Pool {
  private readonly endpoints: Endpoint[];
  private current = 0;
  private token: string | undefined;
  private authenticating: Promise<void> | undefined;
  private closed = false;
  /** Aborted by close(): every waiting call and stream stops. */
  readonly closeSignal: AbortSignal;
  private readonly closer = new AbortController();
  private readonly inFlight = new Set<{ cancel(): void }>();

  constructor(private readonly opts: PoolOptions) {
    if (opts.endpoints.length === 0) throw new TypeError('at least one endpoint is needed');
    this.closeSignal = this.closer.signal;
    // Every watcher and kept-alive lease listens for close(): thousands are normal.
    setMaxListeners(0, this.closeSignal);
    const parsed = opts.endpoints.map(parseEndpoint);
    const useTls = opts.tls !== undefined || parsed.some((p) => p.https);
    const creds: ChannelCredentials = opts.credentials ?? (useTls
      ? credentials.createSsl(buf(opts.tls?.ca), buf(opts.tls?.key), buf(opts.tls?.cert))
      : credentials.createInsecure());
    const channelOptions: ChannelOptions = {
      'grpc.max_receive_message_length': -1,
      'grpc.max_send_message_length': -1,
      // A member that restarts is dialled again soon, not after grpc's default backoff (up to 2 min).
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1000,
      // Finds a dead peer (a host that vanished without closing the socket).
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
      ...(opts.tls?.serverName !== undefined ? { 'grpc.ssl_target_name_override': opts.tls.serverName } : {}),
      ...opts.grpcOptions,
    };
    this.endpoints = parsed.map(({ address }) => ({ address, grpc: new GrpcClient(address, creds, channelOptions) }));
  }

  get addresses(): string[] {
    return this.endpoints.map((e) => e.address);
  }

  /** The endpoint calls go to now. */
  get currentAddress(): string {
    return this.endpoints[this.current]!.address;
  }

  /** Moves calls to the next endpoint (after a failure of `address`, unless already moved). */
  failover(address: string): void {
    if (this.endpoints[this.current]!.address === address) this.current = (this.current + 1) % this.endpoints.length;
  }

  private endpoint(address?: string): Endpoint {
    if (address === undefined) return this.endpoints[this.current]!;
    const e = this.endpoints.find((x) => x.address === address);
    if (e === undefined) throw new TypeError(`${address} is not one of the client's endpoints`);
    return e;
  }

  /** Set on a view made by withToken(): that token on every call, never a login of its own. */
  private fixedToken: string | undefined;

  /** A view of these connections that sends `token` (a caller's, relayed) instead of logging in. */
  withToken(token: string): Pool {
    const view = Object.create(this) as Pool;
    view.fixedToken = token;
    return view;
  }

  private metadata(): Metadata {
    const md = new Metadata();
    const token = this.fixedToken ?? this.token;
    if (token !== undefined) md.set('token', token);
    return md;
  }

  private async ensureToken(force: boolean, control: CallControl): Promise<void> {
    if (this.opts.auth === undefined || this.fixedToken !== undefined) return;
    if (this.token !== undefined && !force) return;
    if (force) this.token = undefined;
    this.authenticating ??= (async () => {
      try {
        const res = await this.unaryRaw(etcdserverpb.AuthService.authenticate,
          etcdserverpb.AuthenticateRequest.fromPartial({ name: this.opts.auth!.username, password: this.opts.auth!.password }),
          'idempotent', control, undefined, false);
        this.token = res.token;
      } finally {
        this.authenticating = undefined;
      }
    })();
    await this.authenticating;
  }

  /**
   * One unary call with failover and the retries `policy` allows. `pinned`: only that endpoint
   * (Maintenance calls about one member), still retried there.
   */
  async unary<Req, Res>(method: MethodDef<Req, Res>, req: Req, policy: RetryPolicy, control: CallControl = {}, pinned?: string): Promise<Res> {
    await this.ensureToken(false, control);
    return this.unaryRaw(method, req, policy, control, pinned, true);
  }

  private async unaryRaw<Req, Res>(
    method: MethodDef<Req, Res>, req: Req, policy: RetryPolicy, control: CallControl, pinned: string | undefined, withToken: boolean,
  ): Promise<Res> {
    const started = Date.now();
    const deadline = control.timeoutMs !== undefined ? started + control.timeoutMs : undefined;
    const retryUntil = started + this.opts.retryTimeoutMs;
    let reauthenticated = false;
    for (let attempt = 0; ; attempt++) {
      this.checkOpen(control.signal);
      const ep = this.endpoint(pinned);
      try {
        return await this.once(ep, method, req, withToken ? this.metadata() : new Metadata(), control.signal, deadline);
      } catch (raw) {
        const err = toClientError(raw);
        if (err instanceof InvalidAuthTokenError && this.opts.auth !== undefined && !reauthenticated && withToken) {
          // The token expired or the member restarted (simple tokens live in memory): the request was refused, not applied.
          reauthenticated = true;
          await this.ensureToken(true, control);
          continue;
        }
        const retry = retryable(raw, err, policy);
        if (retry.failover && pinned === undefined) this.failover(ep.address);
        const now = Date.now();
        if (!retry.again || now >= retryUntil || (deadline !== undefined && now >= deadline)) throw err;
        await sleep(Math.min(25 * 2 ** Math.min(attempt, 5), 500), this.anySignal(control.signal));
      }
    }
  }

  private once<Req, Res>(
    ep: Endpoint, method: MethodDef<Req, Res>, req: Req, md: Metadata, signal: AbortSignal | undefined, deadline: number | undefined,
  ): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      const options: CallOptions = {};
      if (deadline !== undefined) options.deadline = deadline;
      const call = ep.grpc.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, req, md, options,
        (err: ServiceError | null, res?: Res) => {
          cleanup();
          if (err) reject(err);
          else resolve(res as Res);
        });
      // close() cancels the calls in flight; a caller's signal cancels its own.
      this.inFlight.add(call);
      const onAbort = (): void => call.cancel();
      const cleanup = (): void => {
        this.inFlight.delete(call);
        signal?.removeEventListener('abort', onAbort);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Logs in if the client has credentials and no token yet (before opening a stream). */
  authenticated(control: CallControl = {}): Promise<void> {
    return this.ensureToken(false, control);
  }

  /**
   * A bidirectional stream on the current endpoint (or `pinned`), with the auth token: call
   * {@link authenticated} first. Synchronous, so an owner that was closed meanwhile can decide
   * not to open it (grpc-js keeps a connection open after a stream cancelled before it started).
   */
  bidi<Req, Res>(method: MethodDef<Req, Res>, pinned?: string): { call: ClientDuplexStream<Req, Res>; address: string } {
    const ep = this.endpoint(pinned);
    const call = ep.grpc.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, this.metadata(), {});
    // A stream cancelled before its owner listens (closed meanwhile) must not crash the process
    // with an unhandled 'error' event; owners add their own listeners.
    call.on('error', () => undefined);
    return { call, address: ep.address };
  }

  /** A server stream on the current endpoint (or `pinned`), with the auth token. */
  async serverStream<Req, Res>(method: MethodDef<Req, Res>, req: Req, control: CallControl = {}, pinned?: string): Promise<{ call: ClientReadableStream<Res>; address: string }> {
    await this.ensureToken(false, control);
    const ep = this.endpoint(pinned);
    const options: CallOptions = control.timeoutMs !== undefined ? { deadline: Date.now() + control.timeoutMs } : {};
    const call = ep.grpc.makeServerStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, req, this.metadata(), options);
    return { call, address: ep.address };
  }

  /** Re-authenticates after a stream was refused with ErrInvalidAuthToken. */
  refreshToken(control: CallControl = {}): Promise<void> {
    return this.ensureToken(true, control);
  }

  /** An AbortSignal that fires when `signal` or close() does. */
  anySignal(signal?: AbortSignal): AbortSignal {
    return signal === undefined ? this.closeSignal : AbortSignal.any([signal, this.closeSignal]);
  }

  private checkOpen(signal?: AbortSignal): void {
    if (this.closed) throw new CancelledError('client closed', status.CANCELLED);
    if (signal?.aborted) throw new CancelledError('call cancelled', status.CANCELLED);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closer.abort();
    for (const c of this.inFlight) c.cancel();
    for (const e of this.endpoints) e.grpc.close();
  }
}

/**
 * Whether a failed call may be repeated under `policy`, and whether the next attempt should go to
 * another endpoint. Exported for the watch and keepalive streams, which reconnect on their own.
 */
export function retryable(raw: unknown, err: EtcdClientError, policy: RetryPolicy): { again: boolean; failover: boolean } {
  if (err instanceof CancelledError || err instanceof DeadlineExceededError) return { again: false, failover: false };
  const notSent = isServiceError(raw) && raw.code === status.UNAVAILABLE && NOT_SENT.test(raw.details ?? raw.message);
  if (notSent) return { again: true, failover: true };
  const noLeader = err instanceof EtcdServerError && err.etcdName === 'NoLeader';
  if (noLeader) return { again: true, failover: true };
  if (err.code === status.UNAVAILABLE) {
    // A member answering "not capable", "stopped" or dropping the connection: try another.
    return { again: policy === 'idempotent', failover: true };
  }
  return { again: false, failover: false };
}

export { UnavailableError };
