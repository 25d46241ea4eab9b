/**
 * The Wing & Gong linearizability search over one key, with Lowe's memoisation of
 * (set of linearized operations, model state) — the algorithm of Lowe's "Testing for
 * linearizability" (2017) and of the porcupine checker, written for our register model.
 *
 * Events (each operation's call and return) sit in a doubly linked list ordered by time. The
 * search walks from the front: at a call it tries to linearize that operation now (the model
 * accepts its result and the resulting (set, state) was not explored before), lifting the
 * call and its return out of the list and starting again from the front; at a return it has
 * met an operation that must already be linearized but is not, so it backtracks to the last
 * choice. It succeeds when the list holds no return of a completed operation: unknown
 * operations return at +infinity, so they may be linearized late or never.
 */
import type { Operation } from './history.js';
import { ILLEGAL, isReadOnly, isWrite, requiredState, StepKind, stepRegister, type RegisterHistory } from './register-model.js';

export interface SearchLimits {
  /** Iterations of the search loop before giving up with `budget`. */
  readonly maxSteps: number;
  /** Bytes of memoised bitsets before giving up with `budget`. */
  readonly maxMemoBytes: number;
}

export type SearchOutcome =
  | { readonly kind: 'linearizable'; readonly steps: number }
  | {
      readonly kind: 'violation';
      readonly steps: number;
      /**
       * The completed operation latest in time whose return the search could not get past
       * on any path: where the history stops being explainable. A hint for shrinking.
       */
      readonly blocked: Operation;
    }
  | { readonly kind: 'budget'; readonly steps: number; readonly reason: string };

/** Per memo entry, beyond its bitset: object header, array slot, the state. A rough figure. */
const MEMO_ENTRY_OVERHEAD_BYTES = 64;

/** Decides whether `h` is linearizable, within `limits`. Deterministic. */
export function searchRegister(h: RegisterHistory, limits: SearchLimits): SearchOutcome {
  const n = h.ops.length;
  if (n === 0) return { kind: 'linearizable', steps: 0 };

  // Event e is the call of op e>>1 when even, its return when odd. `head` is a sentinel.
  const head = 2 * n;
  const next = new Int32Array(2 * n + 1).fill(-1);
  const prev = new Int32Array(2 * n + 1).fill(-1);
  const time = new Float64Array(2 * n);
  h.ops.forEach((op, i) => {
    time[2 * i] = op.invokeMs;
    time[2 * i + 1] = op.outcome.status === 'ok' ? op.outcome.completeMs : Infinity;
  });
  const order = Array.from({ length: 2 * n }, (_, e) => e);
  // At equal times calls go first: such operations count as concurrent, never as ordered,
  // so a coarse clock can make the check more lenient but never report a false violation.
  order.sort((a, b) => time[a]! - time[b]! || (a & 1) - (b & 1) || a - b);
  const rank = new Int32Array(2 * n);
  order.forEach((e, r) => (rank[e] = r));
  let blockedReturn = -1;
  let last = head;
  for (const e of order) {
    next[last] = e;
    prev[e] = last;
    last = e;
  }

  const lift = (call: number): void => {
    const ret = call + 1;
    next[prev[call]!] = next[call]!;
    prev[next[call]!] = prev[call]!; // a call is always followed by its own return
    next[prev[ret]!] = next[ret]!;
    if (next[ret]! !== -1) prev[next[ret]!] = prev[ret]!;
  };
  const unlift = (call: number): void => {
    const ret = call + 1;
    next[prev[ret]!] = ret;
    if (next[ret]! !== -1) prev[next[ret]!] = ret;
    next[prev[call]!] = call;
    prev[next[call]!] = call;
  };

  // Zobrist hashing keeps the linearized set's hash current in O(1) per step.
  const zobristA = new Int32Array(n);
  const zobristB = new Int32Array(n);
  let seed = 0x2545f491;
  const rand = (): number => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), seed | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return t ^ (t >>> 14);
  };
  for (let i = 0; i < n; i++) {
    zobristA[i] = rand();
    zobristB[i] = rand();
  }

  const words = (n + 31) >>> 5;
  const linearized = new Uint32Array(words);
  let hashA = 0;
  let hashB = 0;
  const memo = new Map<number, { bits: Uint32Array; state: number }[]>();
  const memoEntryBytes = words * 4 + MEMO_ENTRY_OVERHEAD_BYTES;
  let memoBytes = 0;
  const memoKey = (state: number): number =>
    (hashA >>> 0) * 0x100000 + (((hashB ^ Math.imul(state + 1, 0x9e3779b1)) >>> 0) & 0xfffff);
  /** Adds (linearized, state) to the memo; false when it was there already. */
  const remember = (state: number): boolean => {
    const k = memoKey(state);
    let bucket = memo.get(k);
    if (bucket !== undefined) {
      for (const seen of bucket) {
        if (seen.state === state && sameBits(seen.bits, linearized)) return false;
      }
    } else {
      bucket = [];
      memo.set(k, bucket);
    }
    bucket.push({ bits: linearized.slice(), state });
    memoBytes += memoEntryBytes;
    return true;
  };
  const overMemo = (): SearchOutcome => ({
    kind: 'budget',
    steps,
    reason: `memo budget of ${limits.maxMemoBytes} bytes exhausted`,
  });
  const violation = (): SearchOutcome => ({
    kind: 'violation',
    steps,
    // A forced read can fail without meeting a return; the first return then still blocks.
    blocked: h.ops[(blockedReturn === -1 ? order.find((x) => (x & 1) === 1)! : blockedReturn) >>> 1]!,
  });
  const toggle = (i: number): void => {
    linearized[i >>> 5]! ^= 1 << (i & 31);
    hashA ^= zobristA[i]!;
    hashB ^= zobristB[i]!;
  };

  // Per state, over the operations not yet linearized: how many need to find it (all, and
  // only the completed ones, which must be linearized), how many failed cas compared against
  // it, and how many could write it.
  const needsLeft = new Int32Array(h.stateCount);
  const mustNeedLeft = new Int32Array(h.stateCount);
  const failedCasLeft = new Int32Array(h.stateCount);
  const writersLeft = new Int32Array(h.stateCount);
  const account = (i: number, delta: number): void => {
    const needs = requiredState(h, i);
    if (needs >= 0) {
      needsLeft[needs]! += delta;
      if (h.unknown[i] === 0) mustNeedLeft[needs]! += delta;
    }
    if ((h.kind[i] as StepKind) === StepKind.CasFailed) failedCasLeft[h.observed[i]!]! += delta;
    if (isWrite(h, i)) writersLeft[h.written[i]!]! += delta;
  };
  for (let i = 0; i < n; i++) account(i, 1);
  /**
   * An unknown write need not be tried now when nothing left can observe its value and no
   * failed cas left compared against the current state. Taking it now would put the key in
   * a state that, until the next write, only failed cas can tell from the current one, and
   * none of them would fail differently; and an unknown write may be left out for good. It
   * can still be taken later, from a state where it matters.
   */
  const pointless = (i: number): boolean =>
    h.unknown[i] === 1 && isWrite(h, i) && needsLeft[h.written[i]!] === 0 && failedCasLeft[state] === 0;

  /**
   * Whether taking write `i` (moving the state from `state` to another) leaves some completed
   * operation needing the current state with no write left that could bring it back: then
   * every continuation fails, and the choice is skipped without exploring it. With unique
   * values this cuts most wrong orders of concurrent writes at once: a value may only be
   * overwritten after all its readers are linearized.
   */
  const strands = (i: number): boolean => {
    const selfNeeds = h.unknown[i] === 0 && requiredState(h, i) === state ? 1 : 0;
    return mustNeedLeft[state]! - selfNeeds > 0 && writersLeft[state] === 0;
  };

  // The choices made so far: which call was lifted, the state before it, and whether it was
  // forced (see below), in which case there is no alternative to try when it fails.
  const stackCall = new Int32Array(n);
  const stackState = new Int32Array(n);
  const stackForced = new Uint8Array(n);
  let depth = 0;
  let state = h.initialState;
  let steps = 0;
  let e = -1;
  let restart = true;
  const overBudget = (): SearchOutcome => ({ kind: 'budget', steps, reason: `step budget of ${limits.maxSteps} exhausted` });
  const push = (call: number, forced: boolean): void => {
    stackCall[depth] = call;
    stackState[depth] = state;
    stackForced[depth] = forced ? 1 : 0;
    depth++;
    account(call >>> 1, -1);
    lift(call);
  };
  /**
   * The current configuration has no linearization: undo choices until one has an
   * alternative, and continue the scan after it. False when none is left.
   */
  const backtrack = (): boolean => {
    for (;;) {
      if (depth === 0) return false;
      depth--;
      const call = stackCall[depth]!;
      state = stackState[depth]!;
      toggle(call >>> 1);
      account(call >>> 1, 1);
      unlift(call);
      if (stackForced[depth] === 0) {
        e = next[call]!;
        return true;
      }
    }
  };

  for (;;) {
    if (restart) {
      restart = false;
      // A read-only operation (a get, a failed cas) whose result holds now dominates every
      // other choice: any linearization from here can be rearranged to take it first,
      // because every operation that had to precede it is linearized already (the scan
      // stops at the first pending return) and it changes no state, wherever it was. So
      // it is taken without trying alternatives, and if that fails this configuration
      // fails. (Not so for a write that happens to rewrite the current value: moving it
      // would drop its effect where it was.) This removes most of the branching of
      // read-heavy histories.
      let forced = -1;
      for (let x = next[head]!; x !== -1 && (x & 1) === 0; x = next[x]!) {
        if (++steps > limits.maxSteps) return overBudget();
        if (isReadOnly(h, x >>> 1) && stepRegister(h, state, x >>> 1) === state) {
          forced = x;
          break;
        }
      }
      if (forced !== -1) {
        toggle(forced >>> 1);
        if (remember(state)) {
          if (memoBytes > limits.maxMemoBytes) return overMemo();
          push(forced, true);
          restart = true;
        } else {
          // Seen before and not on the current path, so it failed.
          toggle(forced >>> 1);
          if (!backtrack()) return violation();
        }
        continue;
      }
      e = next[head]!;
    }
    if (e === -1 || time[e] === Infinity) return { kind: 'linearizable', steps };
    if (++steps > limits.maxSteps) return overBudget();
    if ((e & 1) === 0) {
      const i = e >>> 1;
      let after = pointless(i) ? ILLEGAL : stepRegister(h, state, i);
      if (after !== ILLEGAL && after !== state && strands(i)) after = ILLEGAL;
      if (after !== ILLEGAL) {
        toggle(i);
        if (remember(after)) {
          if (memoBytes > limits.maxMemoBytes) return overMemo();
          push(e, false);
          state = after;
          restart = true;
          continue;
        }
        toggle(i);
      }
      e = next[e]!;
    } else {
      if (blockedReturn === -1 || rank[e]! > rank[blockedReturn]!) blockedReturn = e;
      // A completed operation returned before being linearized: undo the latest choice.
      if (!backtrack()) return violation();
    }
  }
}

function sameBits(a: Uint32Array, b: Uint32Array): boolean {
  for (let w = 0; w < a.length; w++) if (a[w] !== b[w]) return false;
  return true;
}
