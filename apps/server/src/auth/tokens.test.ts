import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkPassword, effectiveBcryptCost, hashPassword } from './password.js';
import { AuthTokenError, openTokenProvider, parseGoDuration } from './tokens.js';

const dir = mkdtempSync(join(tmpdir(), 'tokens-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('simple tokens', () => {
  it('are 16 letters and the index, known once assigned while auth is on, refreshed on use and gone after their TTL', async () => {
    let now = 0;
    const t = openTokenProvider({ spec: 'simple', simpleTtlSeconds: 10, waitApplied: async () => true, nowMs: () => now });
    const prefix = t.genPrefix();
    expect(prefix).toMatch(/^[a-zA-Z]{16}$/);
    expect(t.assign('u', prefix, 7)).toBe(`${prefix}.7`);
    expect(await t.info(`${prefix}.7`, 3)).toBeUndefined(); // recorded only while enabled
    t.enable();
    const token = t.assign('u', prefix, 8);
    expect(await t.info(token, 3)).toEqual({ username: 'u', revision: 3 });
    now = 9_000;
    expect(await t.info(token, 3)).toBeDefined(); // used: lives 10 s more
    now = 18_000;
    expect(await t.info(token, 4)).toEqual({ username: 'u', revision: 4 });
    now = 28_001;
    expect(await t.info(token, 4)).toBeUndefined();
    for (const bad of ['x', 'a.b', 'a.1.2']) expect(await t.info(bad, 1)).toBeUndefined();
    t.close();
  });

  it('go with their user and when auth is disabled', async () => {
    const t = openTokenProvider({ spec: 'simple', simpleTtlSeconds: 300, waitApplied: async () => true });
    t.enable();
    const a = t.assign('a', t.genPrefix(), 1);
    const b = t.assign('b', t.genPrefix(), 2);
    t.invalidateUser('a');
    expect(await t.info(a, 1)).toBeUndefined();
    expect(await t.info(b, 1)).toBeDefined();
    t.disable();
    expect(await t.info(b, 1)).toBeUndefined();
    t.close();
  });
});

describe('JWT tokens', () => {
  it.each(['RS256', 'PS384', 'ES256', 'ES512'])('%s: signed claims {username, revision} that the verifying key reads; forged or other-key tokens are refused', async (method) => {
    const ec = method.startsWith('ES');
    const curve = method === 'ES512' ? 'P-521' : 'P-256';
    const pair = ec ? generateKeyPairSync('ec', { namedCurve: curve }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
    const priv = join(dir, `${method}.key`);
    const pub = join(dir, `${method}.pub`);
    writeFileSync(priv, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(pub, pair.publicKey.export({ type: 'spki', format: 'pem' }));
    const t = openTokenProvider({ spec: `jwt,pub-key=${pub},priv-key=${priv},sign-method=${method},ttl=5m`, simpleTtlSeconds: 0, waitApplied: async () => true });
    const token = await t.sign('alice', 9);
    expect(token.split('.')).toHaveLength(3);
    expect(await t.info(token, 100)).toEqual({ username: 'alice', revision: 9 });
    const verifyOnly = openTokenProvider({ spec: `jwt,pub-key=${pub},sign-method=${method}`, simpleTtlSeconds: 0, waitApplied: async () => true });
    expect(await verifyOnly.info(token, 1)).toEqual({ username: 'alice', revision: 9 });
    await expect(verifyOnly.sign('a', 1)).rejects.toThrow(/verify-only/);
    const [h, , s] = token.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ username: 'root', revision: 9, exp: 9e9 })).toString('base64url')}.${s}`;
    expect(await t.info(forged, 1)).toBeUndefined();
  });

  it.each([
    ['jwt,sign-method=RS256', /missing key/],
    ['jwt,sign-method=XX256', /signature method/],
    ['jwt,sign-method', /invalid auth options/],
    ['jwt,ttl=1m,ttl=2m', /invalid auth options/],
    ['oauth', /unknown token type/],
  ])('refuses --auth-token %s', (spec, why) => {
    expect(() => openTokenProvider({ spec, simpleTtlSeconds: 0, waitApplied: async () => true })).toThrow(why);
    expect(() => openTokenProvider({ spec, simpleTtlSeconds: 0, waitApplied: async () => true })).toThrow(AuthTokenError);
  });

  it.each([['5m', 300_000], ['1h30m', 5_400_000], ['300s', 300_000], ['1.5h', 5_400_000], ['10ms', 10]])('reads Go duration %s', (s, ms) => {
    expect(parseGoDuration(s)).toBe(ms);
  });
});

describe('passwords', () => {
  it('hashes in Go\'s $2a$ form at the cost asked (out of range: 10) and checks', async () => {
    const h = await hashPassword('secret', 4);
    expect(h).toMatch(/^\$2a\$04\$/);
    expect(await checkPassword('secret', Buffer.from(h))).toBe(true);
    expect(await checkPassword('wrong', Buffer.from(h))).toBe(false);
    expect(await checkPassword('secret', Buffer.alloc(0))).toBe(false);
    // Go's bcrypt (what etcd 3.4 writes) test vector from golang.org/x/crypto/bcrypt: read the same way.
    expect(await checkPassword('allmine', Buffer.from('$2a$10$XajjQvNhvvRt5GSeFk1xFeyqRrsxkhBkUiQeg0dt.wU1qD4aFDcga'))).toBe(true);
    expect(effectiveBcryptCost(3)).toBe(10);
    expect(effectiveBcryptCost(32)).toBe(10);
    expect(effectiveBcryptCost(12)).toBe(12);
  });
});
