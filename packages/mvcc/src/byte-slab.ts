/** A slab's first chunk; each next one doubles, up to its chunk size. */
const FIRST_SLAB_CHUNK_BYTES = 16 * 1024;

/**
 * Copies byte strings into shared chunks of up to `chunkBytes` (a longer string gets a chunk of
 * its own). A copy keeps its whole chunk alive: for reads whose results are dropped together.
 * Chunks start at 16 KiB and double: a small range (100 keys, ~30 KB) once took a zeroed 1 MiB
 * chunk per request, and allocating and collecting it was a fifth of the server's CPU.
 */
export class ByteSlab {
  private chunk = new Uint8Array(0);
  private used = 0;
  private nextChunkBytes: number;

  constructor(private readonly chunkBytes = 1 << 20) {
    this.nextChunkBytes = Math.min(FIRST_SLAB_CHUNK_BYTES, chunkBytes);
  }

  copy(src: Uint8Array): Uint8Array {
    const out = this.alloc(src.length);
    out.set(src);
    return out;
  }

  /** `n` bytes of a chunk, never handed out before (zero until written). */
  alloc(n: number): Uint8Array {
    if (n > this.chunk.length - this.used) {
      this.chunk = new Uint8Array(Math.max(this.nextChunkBytes, n));
      this.used = 0;
      this.nextChunkBytes = Math.min(this.nextChunkBytes * 2, this.chunkBytes);
    }
    const out = this.chunk.subarray(this.used, this.used + n);
    this.used += n;
    return out;
  }
}
