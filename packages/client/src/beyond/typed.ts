// Typed keyspaces and the configuration watcher: a zod schema per prefix; values are JSON,
// validated on the way in (put) and on the way out (get, watch).
import type { z } from 'zod';
import type { Client } from '../client.js';
import type { CallControl } from '../connection.js';
import type { PutOptions, PutResult } from '../kv.js';
import { LiveMap } from './live-map.js';

/** A value under a typed prefix that does not match its schema. */
export class SchemaError extends Error {
  override name = 'SchemaError';
  constructor(readonly key: string, readonly issues: unknown) {
    super(`value of ${key} does not match the schema: ${JSON.stringify(issues)}`);
  }
}

/**
 * A prefix whose values all follow one schema.
 *
 * @example
 *   const users = typedKeyspace(client, 'users/', z.object({ name: z.string(), age: z.number().int() }));
 *   await users.put('u1', { name: 'Ada', age: 36 });
 *   (await users.get('u1'))?.name;  // 'Ada'
 */
export class TypedKeyspace<S extends z.ZodType> {
  constructor(readonly client: Client, readonly prefix: string, readonly schema: S) {}

  private parse(key: string, text: string): z.infer<S> {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new SchemaError(key, String(err));
    }
    const r = this.schema.safeParse(json);
    if (!r.success) throw new SchemaError(key, r.error.issues);
    return r.data as z.infer<S>;
  }

  /** The value, validated; undefined if missing; {@link SchemaError} if it does not match. */
  async get(key: string, control: CallControl = {}): Promise<z.infer<S> | undefined> {
    const kv = await this.client.get(`${this.prefix}${key}`, control);
    return kv === undefined ? undefined : this.parse(key, kv.value.toString());
  }

  /** Validates, then writes; {@link SchemaError} (nothing written) if the value does not match. */
  async put(key: string, value: z.infer<S>, opts: PutOptions & CallControl = {}): Promise<PutResult> {
    const r = this.schema.safeParse(value);
    if (!r.success) throw new SchemaError(key, r.error.issues);
    return this.client.put(`${this.prefix}${key}`, JSON.stringify(r.data), opts);
  }

  async delete(key: string, control: CallControl = {}): Promise<boolean> {
    return (await this.client.delete(`${this.prefix}${key}`, control)).deleted > 0n;
  }

  /** Every entry, validated (an invalid one throws {@link SchemaError}). */
  async list(control: CallControl = {}): Promise<Map<string, z.infer<S>>> {
    const out = new Map<string, z.infer<S>>();
    for (const kv of await this.client.getPrefix(this.prefix, control)) {
      const key = kv.key.toString().slice(this.prefix.length);
      out.set(key, this.parse(key, kv.value.toString()));
    }
    return out;
  }

  /** A live, validated view of the prefix (invalid values left out and reported to `onInvalid`). */
  watch(onInvalid?: (key: string, err: unknown) => void): LiveMap<z.infer<S>> {
    return new LiveMap(this.client, this.prefix, (kv) => this.parse(kv.key.toString().slice(this.prefix.length), kv.value.toString()), onInvalid);
  }
}

export function typedKeyspace<S extends z.ZodType>(client: Client, prefix: string, schema: S): TypedKeyspace<S> {
  return new TypedKeyspace(client, prefix, schema);
}

/**
 * A configuration object assembled from a prefix: each key under it is one field (its value
 * JSON), validated as a whole by `schema`. `current` is the latest valid configuration; a change
 * that makes it invalid is reported to `onInvalid` and ignored (the last valid one stays).
 *
 * @example
 *   const cfg = await watchConfig(client, 'config/app/', z.object({ maxConns: z.number(), mode: z.enum(['a', 'b']) }));
 *   cfg.current.maxConns;
 *   cfg.onChange((next) => pool.resize(next.maxConns));
 */
export async function watchConfig<S extends z.ZodType>(
  client: Client, prefix: string, schema: S, opts: { onInvalid?: (err: unknown) => void } = {},
): Promise<ConfigWatcher<z.infer<S>>> {
  const fields = new LiveMap<unknown>(client, prefix, (kv) => JSON.parse(kv.value.toString()) as unknown, (_k, e) => opts.onInvalid?.(e));
  await fields.ready;
  const w = new ConfigWatcher<z.infer<S>>(fields, (raw) => {
    const r = schema.safeParse(raw);
    if (!r.success) throw new SchemaError(prefix, r.error.issues);
    return r.data as z.infer<S>;
  }, opts.onInvalid);
  return w;
}

export class ConfigWatcher<T> {
  private value: T;
  private readonly listeners = new Set<(next: T, previous: T) => void>();

  /** @internal */
  constructor(private readonly fields: LiveMap<unknown>, private readonly validate: (raw: unknown) => T, onInvalid?: (err: unknown) => void) {
    this.value = validate(Object.fromEntries(fields.snapshot));
    fields.onChange((_changes, snapshot) => {
      let next: T;
      try {
        next = validate(Object.fromEntries(snapshot));
      } catch (err) {
        onInvalid?.(err);
        return;
      }
      const previous = this.value;
      this.value = next;
      for (const l of this.listeners) l(next, previous);
    });
  }

  /** The latest valid configuration. */
  get current(): T {
    return this.value;
  }

  /** Calls `listener` with each new valid configuration; returns an unsubscribe. */
  onChange(listener: (next: T, previous: T) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.fields.close();
  }
}
