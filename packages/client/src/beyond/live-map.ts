// A prefix kept current in memory: read once at one revision, then a watch from the next one.
// The base of the service registry's discovery, the config watcher and typed keyspace watches.
import type { Client } from '../client.js';
import { CancelledError, WatchCompactedError } from '../errors.js';
import type { KeyValue } from '../kv.js';

/** One change of a {@link LiveMap}: `value` undefined when the key went away. */
export interface LiveChange<T> {
  key: string;
  value: T | undefined;
  revision: bigint;
}

/**
 * A read-only map of every key under a prefix (keys relative to it), kept current by a watch.
 * `decode` turns a key-value into the map's value; one it rejects (throws) is left out and
 * reported to `onInvalid`. After a compaction that outran the watch it reads everything again
 * (emitting the differences). Iterate it for snapshots (the latest one when the reader is slow).
 */
export class LiveMap<T> implements AsyncIterable<ReadonlyMap<string, T>> {
  private readonly map = new Map<string, T>();
  private readonly listeners = new Set<(changes: LiveChange<T>[], snapshot: ReadonlyMap<string, T>) => void>();
  private readonly controller = new AbortController();
  private rev = 0n;
  private version = 0;
  private wake: (() => void) | undefined;
  private failure: unknown;
  /** Resolves once the first full read is in. */
  readonly ready: Promise<void>;

  constructor(
    private readonly client: Client,
    private readonly prefix: string,
    private readonly decode: (kv: KeyValue) => T,
    private readonly onInvalid: (key: string, err: unknown) => void = () => undefined,
  ) {
    let resolveReady!: () => void;
    let rejectReady!: (e: unknown) => void;
    this.ready = new Promise((res, rej) => { resolveReady = res; rejectReady = rej; });
    this.ready.catch(() => undefined);
    void this.run(resolveReady).catch((err: unknown) => {
      if (!this.controller.signal.aborted) this.failure = err;
      rejectReady(err);
      this.notify();
    });
  }

  /** The current contents. */
  get snapshot(): ReadonlyMap<string, T> {
    return this.map;
  }

  /** The revision the contents are current as of. */
  get revision(): bigint {
    return this.rev;
  }

  /** Calls `listener` after each change (with the changes of one revision batch); returns an unsubscribe. */
  onChange(listener: (changes: LiveChange<T>[], snapshot: ReadonlyMap<string, T>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.controller.abort();
    this.notify();
  }

  private notify(): void {
    this.version++;
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private apply(changes: LiveChange<T>[]): void {
    if (changes.length === 0) return;
    for (const l of this.listeners) l(changes, this.map);
    this.notify();
  }

  private decodeKv(key: string, kv: KeyValue): { ok: true; value: T } | { ok: false } {
    try {
      return { ok: true, value: this.decode(kv) };
    } catch (err) {
      this.onInvalid(key, err);
      return { ok: false };
    }
  }

  /** Reads everything at one revision; returns what changed against the current contents. */
  private async load(): Promise<LiveChange<T>[]> {
    const seen = new Map<string, T>();
    let revision = 0n;
    for await (const page of this.client.pages(this.prefix, { prefix: true, signal: this.controller.signal })) {
      revision = page.header.revision;
      for (const kv of page.kvs) {
        const key = kv.key.toString().slice(this.prefix.length);
        const d = this.decodeKv(key, kv);
        if (d.ok) seen.set(key, d.value);
      }
    }
    const changes: LiveChange<T>[] = [];
    for (const [k, v] of seen) if (!this.map.has(k) || this.map.get(k) !== v) changes.push({ key: k, value: v, revision });
    for (const k of this.map.keys()) if (!seen.has(k)) changes.push({ key: k, value: undefined, revision });
    this.map.clear();
    for (const [k, v] of seen) this.map.set(k, v);
    this.rev = revision;
    return changes;
  }

  private async run(ready: () => void): Promise<void> {
    const first = await this.load();
    ready();
    this.apply(first);
    const signal = this.controller.signal;
    while (!signal.aborted) {
      const w = this.client.watch(this.prefix, { prefix: true, startRevision: this.rev + 1n, signal });
      try {
        for await (const batch of w) {
          const changes: LiveChange<T>[] = [];
          for (const e of batch.events) {
            const key = e.kv.key.toString().slice(this.prefix.length);
            if (e.type === 'delete') {
              if (this.map.delete(key)) changes.push({ key, value: undefined, revision: e.kv.modRevision });
            } else {
              const d = this.decodeKv(key, e.kv);
              if (d.ok) { this.map.set(key, d.value); changes.push({ key, value: d.value, revision: e.kv.modRevision }); }
              else if (this.map.delete(key)) changes.push({ key, value: undefined, revision: e.kv.modRevision });
            }
            this.rev = e.kv.modRevision;
          }
          this.apply(changes);
        }
        return; // closed
      } catch (err) {
        if (signal.aborted || err instanceof CancelledError) return;
        if (!(err instanceof WatchCompactedError)) throw err;
        this.apply(await this.load());
      }
    }
  }

  /** Snapshots: the current one, then one after each change (a slow reader gets the latest). */
  async *[Symbol.asyncIterator](): AsyncIterator<ReadonlyMap<string, T>> {
    await this.ready;
    let seen = -1;
    for (;;) {
      if (this.failure !== undefined) throw this.failure;
      if (this.controller.signal.aborted) return;
      if (seen !== this.version) {
        seen = this.version;
        yield new Map(this.map);
        continue;
      }
      await new Promise<void>((r) => { this.wake = r; });
    }
  }
}
