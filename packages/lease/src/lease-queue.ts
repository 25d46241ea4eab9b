/**
 * An indexed binary min-heap of lease IDs keyed by a time in milliseconds, at most one entry
 * per lease (etcd's LeaseQueue + LeaseExpiredNotifier). Updating or removing a lease's entry
 * is O(log n) through the ID index, so renewals never scan. Ties are broken by ID so the
 * pop order is fully deterministic.
 *
 * Internal: not exported from the package.
 */
interface QueueEntry {
  readonly id: bigint;
  timeMs: number;
  index: number;
}

export class LeaseQueue {
  private readonly heap: QueueEntry[] = [];
  private readonly byId = new Map<bigint, QueueEntry>();

  get size(): number {
    return this.heap.length;
  }

  /** Inserts the lease, or moves its existing entry to `timeMs`. */
  set(id: bigint, timeMs: number): void {
    const old = this.byId.get(id);
    if (old !== undefined) {
      const before = old.timeMs;
      old.timeMs = timeMs;
      if (timeMs < before) this.up(old.index);
      else if (timeMs > before) this.down(old.index);
      return;
    }
    const entry: QueueEntry = { id, timeMs, index: this.heap.length };
    this.heap.push(entry);
    this.byId.set(id, entry);
    this.up(entry.index);
  }

  /** Removes the lease's entry if present. */
  delete(id: bigint): boolean {
    const entry = this.byId.get(id);
    if (entry === undefined) return false;
    this.byId.delete(id);
    const last = this.heap.pop() as QueueEntry;
    if (last !== entry) {
      last.index = entry.index;
      this.heap[entry.index] = last;
      this.up(last.index);
      this.down(last.index);
    }
    return true;
  }

  has(id: bigint): boolean {
    return this.byId.has(id);
  }

  timeOf(id: bigint): number | undefined {
    return this.byId.get(id)?.timeMs;
  }

  /** The earliest entry without removing it. */
  peek(): { readonly id: bigint; readonly timeMs: number } | undefined {
    return this.heap[0];
  }

  clear(): void {
    this.heap.length = 0;
    this.byId.clear();
  }

  private less(a: QueueEntry, b: QueueEntry): boolean {
    return a.timeMs < b.timeMs || (a.timeMs === b.timeMs && a.id < b.id);
  }

  private up(i: number): void {
    const heap = this.heap;
    const entry = heap[i] as QueueEntry;
    while (i > 0) {
      const parentIndex = (i - 1) >> 1;
      const parent = heap[parentIndex] as QueueEntry;
      if (!this.less(entry, parent)) break;
      heap[i] = parent;
      parent.index = i;
      i = parentIndex;
    }
    heap[i] = entry;
    entry.index = i;
  }

  private down(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const entry = heap[i] as QueueEntry;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      let child = left;
      if (right < n && this.less(heap[right] as QueueEntry, heap[left] as QueueEntry)) child = right;
      const childEntry = heap[child] as QueueEntry;
      if (!this.less(childEntry, entry)) break;
      heap[i] = childEntry;
      childEntry.index = i;
      i = child;
    }
    heap[i] = entry;
    entry.index = i;
  }
}
