/**
 * The write-ahead log: raft state is appended here and fdatasync'ed before it is
 * acknowledged or acted on.
 */
import { dirname, join } from 'node:path';
import { WalClosedError, WalCorruptionError } from './errors.js';
import { FilePipeline } from './file-pipeline.js';
import { writeFully } from './file-util.js';
import { fsOf, nodeFs, type WalFile, type WalFs } from './fs.js';
import {
  type DecodedRecord,
  encodeFrames,
  frameSize,
  type HardState,
  readFrame,
  type SnapshotMarker,
  validateRecord,
  type WalRecord,
} from './record.js';
import { ReplayBuilder, type WalReplay } from './replay.js';
import { type ReplayStart, readReplayStart } from './replay-start.js';
import { ReplayStartTracker } from './replay-start-tracker.js';
import {
  listSegments, readSegment, readSegmentFrom, readSegmentMetadata, scanSegment, type ScanStart, type SegmentName, segmentName,
} from './segment.js';

/** Tuning for {@link Wal.create} and {@link Wal.open}. */
export interface WalOptions {
  /**
   * Size a segment is preallocated to and rotated at. Default 64 MiB. A record larger
   * than what is left in a segment goes into the next one; a record larger than a whole
   * segment is still written (the file grows past the size). Minimum 4 KiB.
   */
  segmentSizeBytes?: number;
  /** Zero-fill new segments before use (in the background). Default true. */
  preallocate?: boolean;
  /**
   * Told the duration in seconds of each sync of the append path (etcd's
   * wal_fsync_duration_seconds), after it succeeded: the durable (O_DSYNC) write that ends a
   * batch, and the fsync of a segment at rotation. Must not throw.
   */
  onSync?: (seconds: number) => void;
}

/** Counters of the append path, for tests and metrics. Monotonic. */
export interface WalStats {
  /** `append()` calls accepted. */
  appends: number;
  /** Records written. */
  records: number;
  /** Syncs of segment files by the append path: one durable write per batch, plus rotations' fsyncs. */
  syncs: number;
  /** Write calls issued by the append path. */
  writes: number;
  /** Bytes written by the append path. */
  bytesWritten: number;
  /** Segments started by rotation. */
  segmentsCut: number;
}

/** Segment size when {@link WalOptions.segmentSizeBytes} is not given: 64 MiB, as etcd. */
export const DEFAULT_SEGMENT_SIZE_BYTES = 64 * 1024 * 1024;
const MIN_SEGMENT_SIZE_BYTES = 4 * 1024;

/** Largest single write the append path issues (a batch beyond it takes several writes, one sync). */
const MAX_WRITE_BYTES = 8 * 1024 * 1024;

interface Pending {
  records: WalRecord[];
  resolve: () => void;
  reject: (e: unknown) => void;
}

interface Segment extends SegmentName {
  path: string;
}

/**
 * A write-ahead log in one directory of segment files.
 *
 * Guarantees:
 * - `append()` resolves only after its records (and every record appended before them)
 *   are on stable storage: the segment is open with O_DSYNC, so the one write call of a
 *   batch returns once it is durable (write + fdatasync in one system call, one thread-pool
 *   job). Records reach the file in call order.
 * - Group commit: appends made while a sync is in flight are written together with one
 *   write call and made durable by one fdatasync, so N concurrent appends cost about
 *   one or two syncs, not N.
 * - After a crash, `open()` returns exactly a prefix of the appended records that
 *   includes every record whose `append()` resolved; a torn tail is cut. Damage that a
 *   crash cannot explain throws {@link WalCorruptionError}.
 * - After a failed write or sync the log refuses all further appends
 *   ({@link WalClosedError}): a failed fdatasync cannot be retried safely.
 *
 * One process at a time: there is no file lock, the caller (the server) owns the
 * directory.
 *
 * @example
 * ```ts
 * const wal = await Wal.create(dir, metadata);
 * await wal.append([{ type: 'entry', term: 1, index: 1, data }, { type: 'hardState', term: 1, vote: 1n, commit: 1 }]);
 * await wal.close();
 * const { wal: again, replay } = await Wal.open(dir);
 * ```
 */
export class Wal {
  private readonly stats_: WalStats = { appends: 0, records: 0, syncs: 0, writes: 0, bytesWritten: 0, segmentsCut: 0 };
  private pending: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private failure: unknown;
  private closed = false;
  private lastIndex_: number;
  /** State as of the last record handed to the writer: repeated at each segment start. */
  private hdr: { metadata: Uint8Array; hardState?: HardState; marker?: SnapshotMarker; lastIndex: number };
  /** Latest snapshot marker known to be durable; bounds `releaseTo`. */
  private durableMarkerIndex: number;
  private onSync: ((seconds: number) => void) | undefined;
  private readonly replayStarts: ReplayStartTracker;

  private constructor(
    private readonly fs: WalFs,
    private readonly dir: string,
    private readonly segmentSizeBytes: number,
    private readonly pipeline: FilePipeline,
    private readonly segments: Segment[],
    private fh: WalFile,
    /** Write offset in the current (last) segment. */
    private off: number,
    /** Offset in the current segment where its leading header records end. */
    private segDataStart: number,
    /** Chain crc after the last written record. */
    private crc: number,
    /** The chain value the current segment's leading crc record continues from. */
    private segStartCrc: number,
    replayState: ReplayBuilder,
  ) {
    this.replayStarts = new ReplayStartTracker(fs, dir);
    this.lastIndex_ = replayState.lastIndex;
    const marker = replayState.latestSnapshotMarker;
    this.durableMarkerIndex = marker?.index ?? 0;
    this.hdr = { metadata: replayState.latestMetadata!, lastIndex: this.lastIndex_ };
    const hs = replayState.latestHardState;
    if (hs) this.hdr.hardState = hs;
    if (marker) this.hdr.marker = marker;
    // Zero-filling the next segment (64 MiB written and flushed) at every open competed with the
    // start-up that opened the log: three fresh members on two cores were ready ~0.3-1 s later.
    // It is needed only before the tail fills: it starts once the tail is half full (here or
    // after a write), and at every rotation for the segment after.
    this.prepareNextIfHalfFull();
  }

  /** True if `dir` holds at least one WAL segment. */
  static async exists(dir: string): Promise<boolean> {
    try {
      return listSegments(await nodeFs.readdir(dir)).length > 0;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
  }

  /**
   * Creates a new log in `dir` whose first record is `metadata` (e.g. member and cluster
   * IDs; repeated at every segment start and returned by every replay).
   *
   * Atomic: the first segment is written and synced in `<dir>.tmp`, which is then
   * renamed to `dir`. Throws if `dir` already holds a log or is a non-empty directory.
   */
  static async create(dir: string, metadata: Uint8Array, opts: WalOptions = {}): Promise<Wal> {
    const size = segmentSize(opts);
    const fs = fsOf(opts);
    validateRecord({ type: 'metadata', data: metadata });
    const existing = await fs.readdir(dir).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return [];
      throw e;
    });
    if (listSegments(existing).length > 0) throw new Error(`wal: ${dir} already holds a log`);
    const parent = dirname(dir);
    await fs.mkdir(parent, { recursive: true });
    const tmp = `${dir}.tmp`;
    await fs.rmTree(tmp);
    await fs.mkdir(tmp);
    const header: DecodedRecord[] = [{ type: 'crc', prevCrc: 0 }, { type: 'metadata', data: metadata }];
    const { bytes, crc } = encodeFrames(header, 0);
    const name = segmentName(0, 1);
    const fh = await fs.open(join(tmp, name), 'w+');
    try {
      // Sized sparsely (a fast create); later segments are zero-filled in the background.
      if (opts.preallocate ?? true) await fh.truncate(Math.max(size, bytes.length));
      await writeFully(fh, bytes, 0);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.fsyncDir(tmp);
    try {
      await fs.rmdir(dir); // an empty directory may be there already; a non-empty one stays (and rename fails)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    await fs.rename(tmp, dir);
    await fs.fsyncDir(parent);
    // What the log holds is known: no read back of the segment (the sparse 64 MiB of it cost
    // ~30-40 ms of CPU, mostly the kernel zero-filling pages), the state an open would build.
    const builder = new ReplayBuilder();
    for (const r of header) if (r.type !== 'crc') builder.add(r);
    const segments: Segment[] = listSegments([name]).map((n) => ({ ...n, path: join(dir, n.name) }));
    const durable = await fs.openDurable(segments[0]!.path);
    const wal = new Wal(fs, dir, size, new FilePipeline(fs, dir, size, opts.preallocate ?? true), segments, durable,
      bytes.length, bytes.length, crc, 0, builder);
    wal.onSync = opts.onSync;
    return wal;
  }

  /**
   * The metadata `create` was given, read from the start of the newest segment (each segment
   * repeats it) without reading the log: for a caller that needs only that (who a member is)
   * before {@link open} reads everything. Throws as `open` does if there is no segment or its
   * header does not verify.
   */
  static async readMetadata(dir: string, opts: WalOptions = {}): Promise<Uint8Array> {
    const names = listSegments(await fsOf(opts).readdir(dir));
    const newest = names[names.length - 1];
    if (!newest) throw new Error(`wal: no segments in ${dir}`);
    return readSegmentMetadata(fsOf(opts), join(dir, newest.name));
  }

  /**
   * Opens an existing log and reads it back.
   *
   * With `fromSnapshot`, reading starts at the segment holding the entry after it, the
   * replay's `snapshot` is that marker, and entries at or below its index are skipped;
   * a marker in the log at the same index with another term is an error. If it is
   * newer than every marker in the log (a crash between saving the snapshot file and
   * appending its marker), its marker is appended before `open` resolves. Without it,
   * every remaining segment is read and the latest snapshot marker is the base.
   *
   * Repairs a torn tail of the last segment (zeroes it, so later appends are not
   * followed by stale bytes). Throws {@link WalCorruptionError} for damage in the middle
   * of the log, a broken crc chain, a missing segment, or entries with a gap.
   */
  static async open(
    dir: string,
    opts: { fromSnapshot?: SnapshotMarker } & WalOptions = {},
  ): Promise<{ wal: Wal; replay: WalReplay }> {
    const size = segmentSize(opts);
    const fs = fsOf(opts);
    const from = opts.fromSnapshot;
    if (from) {
      validateRecord({ type: 'snapshot', index: from.index, term: from.term });
    }
    const names = await fs.readdir(dir);
    // Leftovers of a file pipeline or of an interrupted create: never part of the log.
    for (const n of names) if (n.endsWith('.tmp')) await fs.unlink(join(dir, n)).catch(() => undefined);
    const all: Segment[] = listSegments(names).map((s) => ({ ...s, path: join(dir, s.name) }));
    if (all.length === 0) throw new Error(`wal: no segments in ${dir}`);
    for (let i = 1; i < all.length; i++) {
      if (all[i]!.seq !== all[i - 1]!.seq + 1) {
        throw new WalCorruptionError(all[i]!.path, 0, `segment sequence jumps from ${all[i - 1]!.seq} to ${all[i]!.seq}`);
      }
    }
    let start = 0;
    if (from) {
      for (let i = 0; i < all.length; i++) if (all[i]!.firstIndex <= from.index + 1) start = i;
    }
    const builder = new ReplayBuilder(from);
    let prevCrc: number | undefined;
    let scan: ReturnType<typeof scanSegment> | undefined;
    let buf: Uint8Array = new Uint8Array(0);
    // A hint to read the first segment from inside (see replay-start.ts), if it fits this open.
    let hint = from ? await readReplayStart(fs, dir) : undefined;
    if (hint && (hint.seq !== all[start]!.seq || hint.lastIndex > from!.index)) hint = undefined;
    let lastDataStart: number | undefined;
    for (let i = start; i < all.length; i++) {
      const seg = all[i]!;
      const isLast = i === all.length - 1;
      const partial = i === start && hint ? await readFromHint(fs, seg.path, hint, builder) : undefined;
      if (partial) {
        buf = partial.buf;
        scan = scanSegment(seg.path, buf, isLast, partial.start);
        lastDataStart = hint!.dataStart;
      } else {
        buf = await readSegment(fs, seg.path);
        scan = scanSegment(seg.path, buf, isLast);
        lastDataStart = undefined;
      }
      if (prevCrc !== undefined && scan.startCrc !== prevCrc) {
        throw new WalCorruptionError(seg.path, 0, 'crc chain broken between segments');
      }
      prevCrc = scan.crc;
      for (const { record, end } of scan.records) {
        if (record.type === 'crc') continue;
        try {
          builder.add(record);
        } catch (e) {
          throw new WalCorruptionError(seg.path, end - frameSize(record), (e as Error).message);
        }
      }
    }
    const last = all[all.length - 1]!;
    let replay: WalReplay;
    try {
      replay = builder.finish();
    } catch (e) {
      throw new WalCorruptionError(last.path, 0, (e as Error).message);
    }
    const s = scan!;
    // Appends go through an O_DSYNC handle: write and sync are one system call, one thread-pool job.
    const fh = await fs.openDurable(last.path);
    try {
      if (s.torn) {
        let lastNonZero = buf.length - 1;
        while (lastNonZero >= s.validEnd && buf[lastNonZero] === 0) lastNonZero--;
        await writeFully(fh, new Uint8Array(lastNonZero + 1 - s.validEnd), s.validEnd);
        await fh.sync();
      }
    } catch (e) {
      await fh.close();
      throw e;
    }
    let segDataStart = 0;
    if (lastDataStart !== undefined) segDataStart = lastDataStart;
    else {
      for (const { record, end } of s.records) {
        if (record.type === 'entry') break;
        segDataStart = end;
      }
    }
    const pipeline = new FilePipeline(fs, dir, size, opts.preallocate ?? true);
    const wal = new Wal(fs, dir, size, pipeline, all, fh, s.validEnd, segDataStart, s.crc, s.startCrc, builder);
    wal.onSync = opts.onSync;
    // A metadata record after the header: replay starts in this segment would miss it.
    if (s.records.some(({ record }, k) => record.type === 'metadata' && (lastDataStart !== undefined || k > 1))) {
      wal.replayStarts.metadataInBody(last.seq);
    }
    if (from && from.index > (builder.latestSnapshotMarker?.index ?? 0)) {
      // The snapshot file was saved but the crash came before its marker was appended.
      // Record it now, so the log alone (a plain open, releaseTo) agrees with it.
      try {
        await wal.append([{ type: 'snapshot', index: from.index, term: from.term }]);
      } catch (e) {
        await wal.close();
        throw e;
      }
    }
    return { wal, replay };
  }

  /** Index of the last entry accepted by `append()` (in call order), or of the latest snapshot marker if higher. */
  get lastIndex(): number {
    return this.lastIndex_;
  }

  /** Live counters; see {@link WalStats}. */
  get stats(): Readonly<WalStats> {
    return this.stats_;
  }

  /**
   * Appends records and resolves once they are durable.
   *
   * Validation happens synchronously at the call (the promise rejects with
   * RangeError/TypeError and nothing is written): integers within [0, 2^53-1], `vote` a
   * 64-bit bigint, payload at most {@link MAX_RECORD_PAYLOAD_BYTES}, entry index at most
   * `lastIndex + 1` (an entry at a lower index truncates the log from there, as raft
   * does). Records are written in call order; do not mutate their `data` until the
   * promise settles. An empty array is a barrier: it resolves after earlier appends.
   */
  append(records: readonly WalRecord[]): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(new WalClosedError('wal: failed earlier', this.failure));
    if (this.closed) return Promise.reject(new WalClosedError('wal: closed'));
    let last = this.lastIndex_;
    try {
      for (const r of records) {
        validateRecord(r);
        if (r.type === 'entry') {
          if (r.index > last + 1) throw new RangeError(`wal: entry index ${r.index} leaves a gap after ${last}`);
          last = r.index;
        } else if (r.type === 'snapshot' && r.index > last) {
          last = r.index;
        }
      }
    } catch (e) {
      return Promise.reject(e);
    }
    this.lastIndex_ = last;
    this.stats_.appends++;
    const copy = records.slice();
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ records: copy, resolve, reject });
      this.flushing ??= this.flushLoop();
    });
  }

  /**
   * Deletes segments whose entries are all at or below `snapshotIndex`. The segment
   * holding `snapshotIndex + 1` (and every later one) stays, as does the current one.
   *
   * Precondition: a snapshot marker at index >= `snapshotIndex` was appended and its
   * append resolved (otherwise RangeError), so a replay after the deletion still has a
   * base. Deletes oldest first and syncs the directory, so a crash leaves a valid suffix.
   */
  async releaseTo(snapshotIndex: number): Promise<void> {
    if (this.closed) throw new WalClosedError('wal: closed');
    if (!Number.isSafeInteger(snapshotIndex) || snapshotIndex < 0) throw new RangeError(`wal: bad snapshot index ${snapshotIndex}`);
    if (snapshotIndex > this.durableMarkerIndex) {
      throw new RangeError(`wal: releaseTo(${snapshotIndex}) beyond the latest durable snapshot marker ${this.durableMarkerIndex}`);
    }
    let n = 0;
    while (n + 1 < this.segments.length && this.segments[n + 1]!.firstIndex <= snapshotIndex + 1) n++;
    if (n === 0) return;
    const victims = this.segments.splice(0, n);
    for (const s of victims) await this.fs.unlink(s.path);
    await this.fs.fsyncDir(this.dir);
  }

  /**
   * Waits for pending appends to become durable, then closes the files. Further
   * appends reject with {@link WalClosedError}. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.flushing) await this.flushing.catch(() => undefined);
    await this.replayStarts.close();
    await this.pipeline.close();
    await this.fh.close().catch(() => undefined);
  }

  private async flushLoop(): Promise<void> {
    // Let every append of the current tick join the first batch.
    await Promise.resolve();
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      try {
        await this.writeBatch(batch);
      } catch (e) {
        this.failure ??= e;
        const err = new WalClosedError('wal: write or sync failed; the log is unusable', e);
        for (const p of batch) p.reject(err);
        for (const p of this.pending) p.reject(err);
        this.pending = [];
        break;
      }
      for (const p of batch) p.resolve();
    }
    this.flushing = undefined;
  }

  /**
   * Writes a batch and makes it durable. The common batch (fits the current segment and one
   * write call) is encoded at once and awaited as one write; the rest takes {@link writeBatchInChunks}.
   */
  private writeBatch(batch: Pending[]): Promise<void> | undefined {
    let size = 0;
    let total = 0;
    for (const p of batch) {
      for (const r of p.records) size += frameSize(r);
      total += p.records.length;
    }
    if (total === 0) return undefined;
    if (this.off + size > this.segmentSizeBytes || size > MAX_WRITE_BYTES) return this.writeBatchInChunks(batch);
    this.noteBatchStart();
    const records = batch.length === 1 ? batch[0]!.records : batch.flatMap((p) => p.records);
    let markerIndex = this.durableMarkerIndex;
    for (const r of records) {
      this.trackHeaderState(r);
      if (r.type === 'snapshot' && r.index > markerIndex) markerIndex = r.index;
    }
    const { bytes, crc } = encodeFrames(records, this.crc);
    assertFrames(bytes, records.length, this.crc, crc);
    const onSync = this.onSync;
    const start = onSync === undefined ? 0n : process.hrtime.bigint();
    const off = this.off;
    const done = (): void => {
      if (onSync !== undefined) onSync(Number(process.hrtime.bigint() - start) / 1e9);
      this.wrote(bytes.length, crc);
      this.stats_.syncs++;
      this.stats_.records += total;
      if (markerIndex > this.durableMarkerIndex) this.replayStarts.markerDurable(markerIndex);
      this.durableMarkerIndex = markerIndex;
    };
    // The handle is O_DSYNC: this write returns once the batch is durable (the batch's "sync").
    // A write that took only part goes on from where it stopped (still durable when it returns).
    return this.fh.write(bytes, 0, bytes.length, off).then(({ bytesWritten }) => {
      if (bytesWritten >= bytes.length) return done();
      if (bytesWritten <= 0) throw new Error('write made no progress');
      return writeFully(this.fh, bytes.subarray(bytesWritten), off + bytesWritten).then(done);
    });
  }

  private async writeBatchInChunks(batch: Pending[]): Promise<void> {
    this.noteBatchStart();
    let chunk: DecodedRecord[] = [];
    let chunkBytes = 0;
    let markerIndex = this.durableMarkerIndex;
    let total = 0;
    for (const p of batch) {
      for (const r of p.records) {
        const size = frameSize(r);
        if (this.off + chunkBytes + size > this.segmentSizeBytes && this.off + chunkBytes > this.segDataStart) {
          await this.writeChunk(chunk);
          chunk = [];
          chunkBytes = 0;
          await this.cut();
        } else if (chunkBytes > 0 && chunkBytes + size > MAX_WRITE_BYTES) {
          // Bounds the encode buffer of a huge batch; still one sync at the end.
          await this.writeChunk(chunk);
          chunk = [];
          chunkBytes = 0;
        }
        chunk.push(r);
        chunkBytes += size;
        total++;
        this.trackHeaderState(r);
        if (r.type === 'snapshot' && r.index > markerIndex) markerIndex = r.index;
      }
    }
    if (total === 0) return;
    // The handle is O_DSYNC: this write returns once the batch is durable (the batch's "sync").
    await this.writeChunk(chunk, this.onSync);
    this.stats_.syncs++;
    this.stats_.records += total;
    if (markerIndex > this.durableMarkerIndex) this.replayStarts.markerDurable(markerIndex);
    this.durableMarkerIndex = markerIndex;
  }

  private noteBatchStart(): void {
    const seq = this.segments[this.segments.length - 1]!.seq;
    this.replayStarts.batchStart(seq, this.off, this.crc, this.segStartCrc, this.segDataStart, this.hdr);
  }

  private trackHeaderState(r: WalRecord): void {
    switch (r.type) {
      case 'metadata':
        this.hdr.metadata = r.data;
        this.replayStarts.metadataInBody(this.segments[this.segments.length - 1]!.seq);
        return;
      case 'hardState':
        this.hdr.hardState = { term: r.term, vote: r.vote, commit: r.commit };
        return;
      case 'snapshot':
        if (!this.hdr.marker || r.index >= this.hdr.marker.index) this.hdr.marker = { index: r.index, term: r.term };
        if (r.index > this.hdr.lastIndex) this.hdr.lastIndex = r.index;
        return;
      case 'entry':
        this.hdr.lastIndex = r.index;
        return;
    }
  }

  /** A sync of the append path, its duration told to `onSync` (the clock is read only when someone listens). */
  private async timedSync(fh: WalFile, how: 'sync' | 'datasync'): Promise<void> {
    const onSync = this.onSync;
    if (onSync === undefined) return fh[how]();
    const start = process.hrtime.bigint();
    await fh[how]();
    onSync(Number(process.hrtime.bigint() - start) / 1e9);
  }

  /**
   * Encodes and writes records at the current offset with one (durable, O_DSYNC) write call;
   * its duration is told to `timed` if given.
   */
  private async writeChunk(records: DecodedRecord[], timed?: (seconds: number) => void): Promise<void> {
    if (records.length === 0) return;
    const { bytes, crc } = encodeFrames(records, this.crc);
    assertFrames(bytes, records.length, this.crc, crc);
    if (timed === undefined) {
      await writeFully(this.fh, bytes, this.off);
    } else {
      const start = process.hrtime.bigint();
      await writeFully(this.fh, bytes, this.off);
      timed(Number(process.hrtime.bigint() - start) / 1e9);
    }
    this.wrote(bytes.length, crc);
  }

  /** Bookkeeping after `length` bytes ending with chain crc `crc` were written at the current offset. */
  private wrote(length: number, crc: number): void {
    this.stats_.writes++;
    this.stats_.bytesWritten += length;
    this.off += length;
    this.crc = crc;
    this.prepareNextIfHalfFull();
  }

  private prepareNextIfHalfFull(): void {
    if (this.off >= this.segmentSizeBytes / 2) this.pipeline.warm();
  }

  /**
   * Rotation: the old segment is cut to its used length and synced before the new one
   * exists under its final name, so only the last segment can ever have a torn tail.
   */
  private async cut(): Promise<void> {
    await this.fh.truncate(this.off);
    await this.timedSync(this.fh, 'sync');
    this.stats_.syncs++;
    await this.fh.close();
    const prepared = await this.pipeline.take();
    const prev = this.segments[this.segments.length - 1]!;
    const seq = prev.seq + 1;
    const firstIndex = this.hdr.lastIndex + 1;
    const header: DecodedRecord[] = [{ type: 'crc', prevCrc: this.crc }, { type: 'metadata', data: this.hdr.metadata }];
    const segStartCrc = this.crc;
    if (this.hdr.hardState) header.push({ type: 'hardState', ...this.hdr.hardState });
    if (this.hdr.marker) header.push({ type: 'snapshot', ...this.hdr.marker });
    const { bytes, crc } = encodeFrames(header, this.crc);
    assertFrames(bytes, header.length, this.crc, crc);
    await writeFully(prepared.fh, bytes, 0);
    await prepared.fh.datasync();
    this.stats_.syncs++;
    const name = segmentName(seq, firstIndex);
    const path = join(this.dir, name);
    await this.fs.rename(prepared.path, path);
    await this.fs.fsyncDir(this.dir);
    // Appends need an O_DSYNC handle (see open); the pipeline's plain one only wrote the header.
    const fh = await this.fs.openDurable(path);
    await prepared.fh.close().catch(() => undefined);
    this.fh = fh;
    this.off = bytes.length;
    this.segDataStart = bytes.length;
    this.crc = crc;
    this.segStartCrc = segStartCrc;
    this.segments.push({ seq, firstIndex, name, path });
    this.stats_.segmentsCut++;
  }
}

/**
 * The segment at `path` read from the hint's offset (and its header), if the hint verifies there:
 * the segment continues the chain the hint names, its header holds the metadata, and the frame
 * at the offset checks against the hint's chain crc. Then `builder` is given the metadata and the
 * state before the offset. Undefined (nothing given to `builder`) means: read the whole segment.
 */
async function readFromHint(
  fs: WalFs, path: string, hint: ReplayStart, builder: ReplayBuilder,
): Promise<{ buf: Uint8Array; start: ScanStart } | undefined> {
  const buf = await readSegmentFrom(fs, path, hint.offset);
  const head = readFrame(buf, 0, 0);
  if (head.kind !== 'ok' || head.record.type !== 'crc' || head.record.prevCrc !== hint.segmentStartCrc) return undefined;
  const meta = readFrame(buf, head.next, head.crc);
  if (meta.kind !== 'ok' || meta.record.type !== 'metadata' || meta.next > hint.offset) return undefined;
  if (readFrame(buf, hint.offset, hint.crc).kind !== 'ok') return undefined;
  builder.add(meta.record);
  if (hint.hardState) builder.add({ type: 'hardState', ...hint.hardState });
  if (hint.marker) builder.add({ type: 'snapshot', ...hint.marker });
  return { buf, start: { offset: hint.offset, crc: hint.crc, startCrc: hint.segmentStartCrc } };
}

function segmentSize(opts: WalOptions): number {
  const s = opts.segmentSizeBytes ?? DEFAULT_SEGMENT_SIZE_BYTES;
  if (!Number.isSafeInteger(s) || s < MIN_SEGMENT_SIZE_BYTES) {
    throw new RangeError(`wal: segmentSizeBytes must be an integer >= ${MIN_SEGMENT_SIZE_BYTES}`);
  }
  return s;
}

/**
 * Durability-boundary assertion: the bytes about to be written parse back into the
 * same number of frames with a valid chain. Catches encoder bugs before they are on disk.
 */
function assertFrames(bytes: Uint8Array, count: number, seed: number, finalCrc: number): void {
  let off = 0;
  let crc = seed;
  for (let i = 0; i < count; i++) {
    const fr = readFrame(bytes, off, crc);
    if (fr.kind !== 'ok') throw new Error(`wal: internal error: encoded frame ${i} does not verify (${fr.kind})`);
    crc = fr.crc;
    off = fr.next;
  }
  if (off !== bytes.length || crc !== finalCrc) throw new Error('wal: internal error: encoded length or crc mismatch');
}
