/**
 * Keeps the replay-start hint (replay-start.ts) current while the log is written: remembers where
 * recent write batches began and, once a snapshot marker is durable, records the latest of those
 * starts that a replay from that marker may begin at.
 */
import type { WalFs } from './fs.js';
import type { HardState, SnapshotMarker } from './record.js';
import { type ReplayStart, writeReplayStart } from './replay-start.js';

/** Batch starts remembered as candidate replay starts (a snapshot lags the log by a few batches). */
const MAX_BATCH_STARTS = 256;

/** The log's state that a replay starting at a batch start must be told (it lies before the offset). */
export interface LogHeaderState {
  lastIndex: number;
  hardState?: HardState;
  marker?: SnapshotMarker;
}

export class ReplayStartTracker {
  /** The latest batch starts, oldest first: where a replay from a later snapshot may begin. */
  private starts: ReplayStart[] = [];
  /** A segment whose body holds a metadata record: its batch starts are no replay starts. */
  private bodyMetadataSeq = -1;
  /** The hint being written (one at a time), and the next one to write. */
  private writing: Promise<void> | undefined;
  private next: ReplayStart | undefined;

  constructor(private readonly fs: WalFs, private readonly dir: string) {}

  /** Segment `seq` holds a metadata record after its header: a replay starting inside it would miss it. */
  metadataInBody(seq: number): void {
    this.bodyMetadataSeq = seq;
    this.starts.length = 0;
  }

  /** A write batch begins at `offset` of segment `seq`, after the chain crc `crc`, with the log in state `hdr`. */
  batchStart(seq: number, offset: number, crc: number, segmentStartCrc: number, dataStart: number, hdr: LogHeaderState): void {
    if (seq === this.bodyMetadataSeq) return;
    const b: ReplayStart = { seq, offset, crc, segmentStartCrc, dataStart, lastIndex: hdr.lastIndex };
    if (hdr.hardState) b.hardState = hdr.hardState;
    if (hdr.marker) b.marker = hdr.marker;
    if (this.starts.length >= MAX_BATCH_STARTS) this.starts.splice(0, MAX_BATCH_STARTS / 2);
    this.starts.push(b);
  }

  /**
   * A snapshot marker at `markerIndex` is durable: a replay from it may start at the latest batch
   * start the log's last index then did not pass. Written in the background; called only once the
   * batch that made the marker durable is, so the frame at the hint's offset exists to be checked.
   */
  markerDurable(markerIndex: number): void {
    let b: ReplayStart | undefined;
    for (let i = this.starts.length - 1; i >= 0; i--) {
      if (this.starts[i]!.lastIndex <= markerIndex) {
        b = this.starts[i];
        this.starts.splice(0, i);
        break;
      }
    }
    if (!b || b.offset <= b.dataStart) return; // nothing to skip
    this.next = b;
    this.writing ??= (async () => {
      for (let next = this.next; next; next = this.next) {
        this.next = undefined;
        // Only a hint: on failure the next open reads the whole segment.
        await writeReplayStart(this.fs, this.dir, next).catch(() => undefined);
      }
      this.writing = undefined;
    })();
  }

  /** Drops a hint not yet started and waits for the one being written. */
  async close(): Promise<void> {
    this.next = undefined;
    await this.writing;
  }
}
