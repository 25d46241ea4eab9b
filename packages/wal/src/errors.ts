/**
 * Thrown by {@link Wal.open} when the log is damaged somewhere a crash cannot explain:
 * a bad record followed by valid ones, a broken CRC chain between segments, a damaged
 * segment that is not the last one, or a record whose checksum is right but whose
 * contents are impossible. A torn tail (the unsynced end of the last segment) is not
 * an error; it is cut.
 *
 * `file` is the absolute path of the segment and `offset` the byte offset of the bad
 * record in it, so an operator can inspect (and, deliberately, truncate) the file.
 */
export class WalCorruptionError extends Error {
  override readonly name = 'WalCorruptionError';
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`wal corrupted: ${file} at byte offset ${offset}: ${reason}`);
  }
}

/** Thrown by any operation on a {@link Wal} after `close()` or after a failed write/sync. */
export class WalClosedError extends Error {
  override readonly name = 'WalClosedError';
  constructor(
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
  }
}
