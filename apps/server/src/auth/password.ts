import { createRequire } from 'node:module';
import type * as Bcrypt from '@node-rs/bcrypt';

/**
 * The bcrypt addon, loaded by the first password to hash or check: a member without users never
 * needs it, and loading it cost every start ~4 ms of CPU (docs/profiles.md, wave 8).
 */
let bcrypt: typeof Bcrypt | undefined;
function addon(): typeof Bcrypt {
  return (bcrypt ??= createRequire(import.meta.url)('@node-rs/bcrypt') as typeof Bcrypt);
}

/** Go's bcrypt.MinCost, MaxCost and DefaultCost: etcd falls back to the default outside the range. */
export const MIN_BCRYPT_COST = 4;
export const MAX_BCRYPT_COST = 31;
export const DEFAULT_BCRYPT_COST = 10;

export function effectiveBcryptCost(cost: number): number {
  return cost < MIN_BCRYPT_COST || cost > MAX_BCRYPT_COST ? DEFAULT_BCRYPT_COST : cost;
}

/**
 * bcrypt of `password`, computed off the event loop (libuv's pool), in Go's `$2a$` form: the
 * Rust implementation writes `$2y$`, the same algorithm under another name, which etcd's Go
 * bcrypt (that reads a restored backend) would also accept; `$2a$` is what etcd itself writes.
 */
export async function hashPassword(password: string, cost: number): Promise<string> {
  const h = await addon().hash(password, effectiveBcryptCost(cost));
  return h.replace(/^\$2[aby]\$/, '$2a$');
}

/** Whether `password` matches a bcrypt `hashed` ($2a$, $2b$ or $2y$); false for anything unreadable. */
export async function checkPassword(password: string, hashed: Uint8Array): Promise<boolean> {
  if (hashed.length === 0) return false;
  const { verify } = addon(); // outside the try: an addon that cannot load is an error, not a mismatch
  try {
    return await verify(password, Buffer.from(hashed).toString('latin1'));
  } catch {
    return false;
  }
}
