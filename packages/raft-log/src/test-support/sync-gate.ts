import { constants } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, rmdir, unlink, type FileHandle } from 'node:fs/promises';
import type { WalOptions } from '@raftkv/wal';

/**
 * A real disk for the WAL whose syncs of the append path can be held — the writes through its
 * O_DSYNC handle, and any datasync — so a test can look at what the log does while an append is
 * not yet durable. Passed to the WAL through its internal `fs` option (the same shape as the
 * WAL's own file operations).
 */
export class SyncGate {
  private closed = false;
  private held: Array<() => void> = [];

  /** WAL options that route the log's file operations through this gate. */
  get walOptions(): WalOptions {
    const gate = this;
    const wrap = (fh: FileHandle, durable = false) => ({
      read: (b: Uint8Array, o: number, l: number, p: number) => fh.read(b, o, l, p),
      stat: () => fh.stat(),
      write: async (b: Uint8Array, o: number, l: number, p: number) => {
        if (durable) await gate.pass();
        return fh.write(b, o, l, p);
      },
      datasync: async () => {
        await gate.pass();
        await fh.datasync();
      },
      sync: () => fh.sync(),
      truncate: (len: number) => fh.truncate(len),
      close: () => fh.close(),
    });
    const fs = {
      open: async (path: string, flags: string) => wrap(await open(path, flags)),
      openDurable: async (path: string) => wrap(await open(path, constants.O_RDWR | constants.O_DSYNC), true),
      readdir: (dir: string) => readdir(dir),
      readFile: async (path: string) => new Uint8Array(await readFile(path)),
      rename: (from: string, to: string) => rename(from, to),
      unlink: (path: string) => unlink(path),
      mkdir: async (path: string, o?: { recursive?: boolean }) => {
        await mkdir(path, o);
      },
      rmTree: (path: string) => rm(path, { recursive: true, force: true }),
      rmdir: (path: string) => rmdir(path),
      fsyncDir: async (dir: string) => {
        const fh = await open(dir, 'r');
        try {
          await fh.sync();
        } finally {
          await fh.close();
        }
      },
    };
    return { fs } as WalOptions;
  }

  /** Holds every later sync until released. */
  close(): void {
    this.closed = true;
  }

  /** Lets held and later syncs through. */
  open(): void {
    this.closed = false;
    for (const r of this.held.splice(0)) r();
  }

  /** Lets the oldest held sync through; the gate stays closed. */
  releaseOne(): void {
    this.held.shift()?.();
  }

  /** Syncs held now (a durable write counts from the moment the WAL issues it). */
  get heldCount(): number {
    return this.held.length;
  }

  /** Resolves once `n` syncs are held (polling the event loop; throws if that never happens). */
  async waitHeld(n: number): Promise<void> {
    for (let i = 0; i < 100_000; i++) {
      if (this.held.length >= n) return;
      await new Promise<void>((r) => setImmediate(r));
    }
    throw new Error(`never ${n} held syncs (have ${this.held.length})`);
  }

  private pass(): Promise<void> {
    if (!this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => this.held.push(resolve));
  }
}
