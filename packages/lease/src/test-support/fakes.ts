import type { Clock, LeaseStore } from '../lease-store.js';

/** A clock that moves only when told to. */
export class FakeClock implements Clock {
  constructor(public ms = 1_000_000) {}
  nowMs(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

/** A LeaseStore in a Map, copying bytes in and out like a real backend would. */
export class MemoryLeaseStore implements LeaseStore {
  readonly records = new Map<bigint, Uint8Array>();
  puts = 0;
  deletes = 0;
  put(id: bigint, bytes: Uint8Array): void {
    this.puts++;
    this.records.set(id, new Uint8Array(bytes));
  }
  delete(id: bigint): void {
    this.deletes++;
    this.records.delete(id);
  }
  *loadAll(): Iterable<{ readonly id: bigint; readonly bytes: Uint8Array }> {
    for (const [id, bytes] of this.records) yield { id, bytes: new Uint8Array(bytes) };
  }
}

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b);
