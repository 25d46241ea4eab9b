import { createPrivateKey, createPublicKey, createSecretKey, randomInt, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { jwtVerify, SignJWT } from 'jose';
import type { AuthInfo } from './auth-store.js';

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
const SIMPLE_TOKEN_LENGTH = 16;
/** etcd's default lifetime of a JWT (auth/options.go DefaultTTL). */
const DEFAULT_JWT_TTL_MS = 5 * 60_000;
const SWEEP_MS = 1_000;

/**
 * Issues and reads auth tokens: etcd's TokenProvider. `simple` tokens are random letters and
 * the raft index of the Authenticate entry ("abcd...XYZ.42"); every member records them when
 * it applies that entry, so a token works on every member and across leader changes, and each
 * member forgets one `ttl` after its last use (etcd's simpleTokenTTLKeeper). `jwt` tokens are
 * signed claims {username, revision, exp} that any member holding the key verifies.
 */
export interface TokenProvider {
  readonly type: 'simple' | 'jwt';
  /** The random part of a simple token, chosen BEFORE proposing Authenticate; '' for JWT. */
  genPrefix(): string;
  /** Applying Authenticate (every member): records a simple token; returns it ('' for JWT). */
  assign(username: string, prefix: string, index: number): string;
  /** The JWT for a user at an auth revision (on the member that answers Authenticate). */
  sign(username: string, revision: number): Promise<string>;
  /** Who a token names; undefined when it is unknown, expired or forged. */
  info(token: string, currentRevision: number): Promise<AuthInfo | undefined>;
  enable(): void;
  disable(): void;
  invalidateUser(username: string): void;
  close(): void;
}

export class AuthTokenError extends Error {}

export interface TokenOptions {
  /** etcd's --auth-token value: `simple` or `jwt,pub-key=...,priv-key=...,sign-method=...,ttl=...`. */
  spec: string;
  /** --auth-token-ttl, for simple tokens. */
  simpleTtlSeconds: number;
  /** Resolves once this member has applied `index` (a simple token names the entry that made it). */
  waitApplied(index: number): Promise<boolean>;
  nowMs?: () => number;
}

/** etcd's NewTokenProvider: refuses unknown types and malformed options (ErrInvalidAuthOpts). */
export function openTokenProvider(options: TokenOptions): TokenProvider {
  const [type = '', ...rest] = options.spec.split(',');
  const opts = new Map<string, string>();
  for (const pair of rest) {
    const kv = pair.split('=');
    if (kv.length !== 2 || opts.has(kv[0]!)) throw new AuthTokenError(`auth: invalid auth options (${options.spec})`);
    opts.set(kv[0]!, kv[1]!);
  }
  switch (type) {
    case 'simple': return new SimpleTokens(options);
    case 'jwt': return JwtTokens.fromOptions(opts);
    default: throw new AuthTokenError(`auth: invalid auth options (unknown token type ${JSON.stringify(type)})`);
  }
}

class SimpleTokens implements TokenProvider {
  readonly type = 'simple';
  private tokens = new Map<string, { username: string; expiresMs: number }>();
  private enabled = false;
  private sweep: NodeJS.Timeout | undefined;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(private readonly options: TokenOptions) {
    this.ttlMs = (options.simpleTtlSeconds > 0 ? options.simpleTtlSeconds : 300) * 1000;
    this.now = options.nowMs ?? (() => performance.now());
  }

  genPrefix(): string {
    let s = '';
    for (let i = 0; i < SIMPLE_TOKEN_LENGTH; i++) s += LETTERS[randomInt(LETTERS.length)];
    return s;
  }

  assign(username: string, prefix: string, index: number): string {
    const token = `${prefix}.${index}`;
    // etcd records tokens only while auth is on (its TTL keeper runs then).
    if (this.enabled) this.tokens.set(token, { username, expiresMs: this.now() + this.ttlMs });
    return token;
  }

  sign(): Promise<string> {
    return Promise.reject(new Error('simple tokens are not signed'));
  }

  async info(token: string, currentRevision: number): Promise<AuthInfo | undefined> {
    const parts = token.split('.');
    if (parts.length !== 2 || !/^-?\d+$/.test(parts[1]!)) return undefined;
    // A follower may not have applied the Authenticate entry yet: wait for it, as etcd does.
    const index = Number(parts[1]);
    if (!(await this.options.waitApplied(index))) return undefined;
    const entry = this.tokens.get(token);
    if (!entry) return undefined;
    if (entry.expiresMs <= this.now()) {
      this.tokens.delete(token);
      return undefined;
    }
    entry.expiresMs = this.now() + this.ttlMs;
    // A simple token always speaks for the current revision (etcd's tokenSimple.info).
    return { username: entry.username, revision: currentRevision };
  }

  enable(): void {
    if (this.enabled) return;
    this.enabled = true;
    this.sweep = setInterval(() => {
      const now = this.now();
      for (const [t, e] of this.tokens) if (e.expiresMs <= now) this.tokens.delete(t);
    }, SWEEP_MS);
    this.sweep.unref();
  }

  disable(): void {
    this.enabled = false;
    this.tokens = new Map();
    clearInterval(this.sweep);
    this.sweep = undefined;
  }

  invalidateUser(username: string): void {
    for (const [t, e] of this.tokens) if (e.username === username) this.tokens.delete(t);
  }

  close(): void {
    this.disable();
  }
}

/** jwt-go's algorithm names that etcd 3.4 accepts in sign-method. */
const JWT_METHODS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'HS256', 'HS384', 'HS512'] as const;
type JwtMethod = typeof JWT_METHODS[number];

/** Go's time.ParseDuration for the forms people write (e.g. 5m, 1h30m, 300s, 1.5h, 10ms). */
export function parseGoDuration(s: string): number {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) throw new AuthTokenError(`time: invalid duration "${s}"`);
    total += Number(m[1]) * units[m[2]!]!;
    pos = re.lastIndex;
  }
  if (pos === 0) throw new AuthTokenError(`time: invalid duration "${s}"`);
  return total;
}

class JwtTokens implements TokenProvider {
  readonly type = 'jwt';

  private constructor(
    private readonly method: JwtMethod,
    private readonly signKey: KeyObject | undefined,
    private readonly verifyKey: KeyObject,
    private readonly ttlMs: number,
  ) {}

  static fromOptions(opts: Map<string, string>): JwtTokens {
    const ttl = opts.get('ttl');
    const ttlMs = ttl ? parseGoDuration(ttl) : DEFAULT_JWT_TTL_MS;
    const method = opts.get('sign-method') ?? '';
    if (!(JWT_METHODS as readonly string[]).includes(method)) throw new AuthTokenError('auth: invalid auth signature method');
    const read = (name: string): Buffer | undefined => {
      const file = opts.get(name);
      return file ? readFileSync(file) : undefined;
    };
    const priv = read('priv-key');
    const pub = read('pub-key');
    if (method.startsWith('HS')) {
      if (!priv || priv.length === 0) throw new AuthTokenError('auth: missing key data');
      const secret = createSecretKey(priv);
      return new JwtTokens(method as JwtMethod, secret, secret, ttlMs);
    }
    const signKey = priv ? createPrivateKey(priv) : undefined;
    const verifyKey = pub ? createPublicKey(pub) : signKey ? createPublicKey(signKey) : undefined;
    if (!verifyKey) throw new AuthTokenError('auth: missing key data');
    if (signKey && pub && !createPublicKey(signKey).equals(verifyKey)) throw new AuthTokenError("auth: public and private keys don't match");
    return new JwtTokens(method as JwtMethod, signKey, verifyKey, ttlMs);
  }

  genPrefix(): string { return ''; }
  assign(): string { return ''; }

  async sign(username: string, revision: number): Promise<string> {
    // etcd: a member given only the public key verifies tokens and issues none.
    if (!this.signKey) throw new AuthTokenError('auth: token signing attempted with verify-only key');
    return new SignJWT({ username, revision })
      .setProtectedHeader({ alg: this.method, typ: 'JWT' })
      // etcd's time.Now().Add(ttl).Unix(): whole seconds, truncated.
      .setExpirationTime(Math.floor((Date.now() + this.ttlMs) / 1000))
      .sign(this.signKey);
  }

  async info(token: string): Promise<AuthInfo | undefined> {
    try {
      // jwt-go (etcd) accepts a token through its `exp` second (now <= exp); jose until just
      // before it: one second of tolerance makes the two the same.
      const { payload } = await jwtVerify(token, this.verifyKey, { algorithms: [this.method], clockTolerance: 1 });
      const { username, revision } = payload as { username?: unknown; revision?: unknown };
      if (typeof username !== 'string' || typeof revision !== 'number') return undefined;
      return { username, revision };
    } catch {
      return undefined;
    }
  }

  enable(): void {}
  disable(): void {}
  invalidateUser(): void {}
  close(): void {}
}
