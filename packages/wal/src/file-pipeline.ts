/**
 * Prepares the next segment file in the background so a rotation never waits for
 * preallocation. One file is kept ready; taking it starts preparing the following one.
 */
import { join } from 'node:path';
import type { WalFile, WalFs } from './fs.js';

export interface PreparedFile {
  path: string;
  fh: WalFile;
}

/** Zero-fill chunk: large enough to be cheap per byte, small enough not to hog the pool. */
const ZERO_CHUNK = new Uint8Array(1024 * 1024);

export class FilePipeline {
  private next: Promise<PreparedFile> | undefined;
  private counter = 0;
  private closed = false;

  constructor(
    private readonly fs: WalFs,
    private readonly dir: string,
    private readonly sizeBytes: number,
    private readonly preallocate: boolean,
  ) {}

  /** Starts preparing a file if none is in progress. */
  warm(): void {
    if (!this.next && !this.closed) this.next = this.prepare();
  }

  /** The prepared file (waiting for it if needed); the next one starts preparing. */
  async take(): Promise<PreparedFile> {
    if (this.closed) throw new Error('wal: file pipeline closed');
    const p = this.next ?? this.prepare();
    this.next = undefined;
    const f = await p;
    this.warm();
    return f;
  }

  async close(): Promise<void> {
    this.closed = true;
    const p = this.next;
    this.next = undefined;
    if (!p) return;
    try {
      const f = await p;
      await f.fh.close();
      await this.fs.unlink(f.path);
    } catch {
      // Preparation failed or the file is gone: a leftover .tmp is removed on next open.
    }
  }

  private prepare(): Promise<PreparedFile> {
    const path = join(this.dir, `${this.counter++}.tmp`);
    const p = (async () => {
      const fh = await this.fs.open(path, 'w+');
      try {
        if (this.preallocate) {
          // Real zeros, not a sparse truncate: later fdatasyncs then overwrite allocated
          // blocks and need no block-allocation metadata of their own.
          for (let off = 0; off < this.sizeBytes; off += ZERO_CHUNK.length) {
            const n = Math.min(ZERO_CHUNK.length, this.sizeBytes - off);
            await fh.write(ZERO_CHUNK, 0, n, off);
          }
          await fh.sync();
        }
        return { path, fh };
      } catch (e) {
        await fh.close().catch(() => undefined);
        throw e;
      }
    })();
    // A failure surfaces on take(); until then it must not be an unhandled rejection.
    p.catch(() => undefined);
    return p;
  }
}
