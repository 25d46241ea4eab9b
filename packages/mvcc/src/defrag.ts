import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { RootDatabase } from 'lmdb';
import type { Backend } from './backend.js';
import { openEnvironment, treesOf, type Trees, type TxnBody } from './lmdb-env.js';
import { DATA_FILE, fsyncPath } from './lmdb-file.js';

// A defragmentation of the backend (Backend.defragment, which holds the environment it swaps):
// its steps, hooks and result, and the compacted copy the write transactions are replayed onto.

/** Where {@link Backend.defragment} writes its compacted copy, in the environment's directory. */
export const DEFRAG_DIR = 'defrag.tmp';

/** Moments of {@link Backend.defragment}, in order, for observers (and crash tests). */
export type DefragStep = 'copying' | 'copied' | 'swapping' | 'renamed' | 'swapped';

/** What a defragmentation did. */
export interface DefragResult {
  /** The data file's size before and after, in bytes. */
  beforeBytes: number;
  afterBytes: number;
  /** Write transactions made during the copy and replayed onto it. */
  replayedTxns: number;
}

/** What {@link Backend.defragment} is given by its caller. */
export interface DefragHooks {
  /** Awaited between replay transactions: other work runs meanwhile. */
  pause(): Promise<void>;
  /** Entries replayed per transaction before a pause. */
  entriesPerStep: number;
  /** Checked at each step: true stops the defragmentation (nothing changed). */
  abort(): boolean;
  /**
   * Observer: 'swapping' to 'swapped' is the time write transactions were held. Awaited: at
   * 'swapping' and 'renamed' it must not wait for a commit (that waits for the swap).
   */
  onStep?(step: DefragStep): void | Promise<void>;
}

/** Rounds of replay while writes go on, before commits are held for the last one. */
export const DEFRAG_REPLAY_ROUNDS = 8;
/** A journal at most this long is replayed with commits held, not in another round. */
export const DEFRAG_TAIL_TXNS = 4;

/**
 * The compacted copy of the environment a defragmentation makes in `<dir>/defrag.tmp/`, and the
 * journal of the write transactions committed on the live environment since the copy began
 * (the backend appends each body inside its transaction), replayed onto the copy.
 */
export class DefragCopy {
  /** Directory of the copy, where LMDB's compacting copy writes it. */
  readonly dir: string;
  /** The copy's data file, renamed over the live one at the swap. */
  readonly dataFile: string;
  /** Bodies of the write transactions committed since the copy began, in commit order. */
  readonly journal: TxnBody[] = [];
  /** Journal entries replayed onto the copy so far. */
  private replayed = 0;
  private env: RootDatabase | undefined;
  private trees: Trees | undefined;

  /** @param entriesPerStep - entries replayed per transaction (a body is never split). */
  constructor(envDir: string, private readonly entriesPerStep: number) {
    this.dir = join(envDir, DEFRAG_DIR);
    this.dataFile = join(this.dir, DATA_FILE);
  }

  /** Makes the copy's directory empty (removing what a crash or an earlier attempt left). */
  async makeDir(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
    await mkdir(this.dir);
  }

  /** Opens the copy, once LMDB has written it. */
  open(): void {
    this.env = openEnvironment(this.dir);
    this.trees = treesOf(this.env);
  }

  /** Journal entries not replayed yet. */
  get behind(): number {
    return this.journal.length - this.replayed;
  }

  /** Replays the rest of the journal onto the open copy, awaiting `pause` (when given) after each transaction. */
  async replay(pause?: () => Promise<void>): Promise<void> {
    const journal = this.journal;
    const trees = this.trees!;
    while (this.replayed < journal.length) {
      const from = this.replayed;
      let to = from;
      let size = 0;
      while (to < journal.length && (to === from || size + journal[to]!.size <= this.entriesPerStep)) size += journal[to++]!.size;
      await this.env!.transaction(() => {
        for (let i = from; i < to; i++) journal[i]!(trees);
      });
      this.replayed = to;
      if (pause) await pause();
    }
  }

  /** Flushes and closes the copy, then fsyncs its data file: ready to be renamed into place. */
  async close(): Promise<void> {
    await this.env!.flushed;
    await this.env!.close();
    this.env = undefined;
    await fsyncPath(this.dataFile);
  }

  /** Closes the copy if open and removes it, ignoring failures: the defragmentation stopped. */
  async discard(): Promise<void> {
    await this.env?.close().catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true }).catch(() => undefined);
  }

  /** Removes the copy's directory, once its data file has been renamed into place. */
  async removeDir(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
