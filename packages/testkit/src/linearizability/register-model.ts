/**
 * The sequential specification of one key: a register holding a string or nothing, compiled
 * from a key's operations into flat arrays so the search steps it without allocating.
 *
 * States are small integers: 0 is "absent", 1 stands for every value that no operation of the
 * key can tell apart (written, but never read back nor compared against), and 2.. are the
 * values some get returned or some cas compared with. Folding the unobservable values into
 * one state is sound (no remaining operation behaves differently on them) and shrinks the
 * memo: histories full of unique never-read writes collapse to a few states.
 */
import type { Operation } from './history.js';

export const ABSENT = 0;
export const UNOBSERVED = 1;
/** Returned by `stepRegister` when the operation cannot take effect in that state. */
export const ILLEGAL = -1;

export enum StepKind {
  Put,
  Get,
  CasSucceeded,
  CasFailed,
  CasUnknown,
  Delete,
}

/** One key's operations, ready for the search. Index i of each array describes `ops[i]`. */
export interface RegisterHistory {
  readonly ops: readonly Operation[];
  readonly kind: Uint8Array;
  /** put/cas: the state written; get: the state read; unused for delete. */
  readonly written: Int32Array;
  /** get: the state read; cas: the state compared with. */
  readonly observed: Int32Array;
  readonly initialState: number;
  /** 1 where the outcome is unknown (such operations need not be linearized at all). */
  readonly unknown: Uint8Array;
  /** States are 0 .. stateCount - 1. */
  readonly stateCount: number;
}

/**
 * Compiles one key's operations. Gets whose outcome is unknown constrain nothing and are
 * dropped here (a read that never answered may be linearized nowhere), and so are unknown
 * writes that provably cannot matter (below).
 */
export function compileRegister(ops: readonly Operation[], initial: string | undefined): RegisterHistory {
  let kept = ops.filter((op) => !(op.input.type === 'get' && op.outcome.status === 'unknown'));
  const observedIds = new Map<string, number>();
  const observe = (v: string | undefined): void => {
    if (v !== undefined && !observedIds.has(v)) observedIds.set(v, observedIds.size + 2);
  };
  for (const op of kept) {
    if (op.input.type === 'get' && op.outcome.status === 'ok') observe(op.outcome.result);
    if (op.input.type === 'cas') observe(op.input.expected);
  }
  const id = (v: string | undefined): number =>
    v === undefined ? ABSENT : (observedIds.get(v) ?? UNOBSERVED);

  // An unknown write of a value nobody observes can only matter to a failed cas that it
  // would make fail (no get can return it, no cas compares equal to it), and only to one
  // that completes after the write was invoked. Without such a cas, dropping it (it "never
  // took effect") loses no linearization, and each one dropped halves the search space.
  let lastFailedCasMs = -Infinity;
  for (const op of kept) {
    if (op.input.type === 'cas' && op.outcome.status === 'ok' && op.outcome.result === 'failed') {
      lastFailedCasMs = Math.max(lastFailedCasMs, op.outcome.completeMs);
    }
  }
  kept = kept.filter(
    (op) =>
      !(
        op.outcome.status === 'unknown' &&
        (op.input.type === 'put' || op.input.type === 'cas') &&
        id(op.input.value) === UNOBSERVED &&
        op.invokeMs > lastFailedCasMs
      ),
  );

  const kind = new Uint8Array(kept.length);
  const written = new Int32Array(kept.length);
  const observed = new Int32Array(kept.length);
  const unknown = new Uint8Array(kept.length);
  kept.forEach((op, i) => {
    unknown[i] = op.outcome.status === 'unknown' ? 1 : 0;
    switch (op.input.type) {
      case 'put':
        kind[i] = StepKind.Put;
        written[i] = id(op.input.value);
        break;
      case 'get':
        kind[i] = StepKind.Get;
        // Unknown gets were filtered above.
        observed[i] = op.outcome.status === 'ok' ? id(op.outcome.result) : ABSENT;
        break;
      case 'cas':
        if (op.outcome.status === 'unknown') kind[i] = StepKind.CasUnknown;
        else kind[i] = op.outcome.result === 'ok' ? StepKind.CasSucceeded : StepKind.CasFailed;
        observed[i] = id(op.input.expected);
        written[i] = id(op.input.value);
        break;
      case 'delete':
        kind[i] = StepKind.Delete;
        written[i] = ABSENT;
        break;
    }
  });
  return { ops: kept, kind, written, observed, initialState: id(initial), unknown, stateCount: observedIds.size + 2 };
}

/**
 * True when `ops[i]` never changes the state, whatever the state (a get, a failed cas): such
 * an operation can be moved anywhere its result holds without affecting any other one.
 */
export function isReadOnly(h: RegisterHistory, i: number): boolean {
  const kind = h.kind[i] as StepKind;
  return kind === StepKind.Get || kind === StepKind.CasFailed;
}

/** True for operations that change the state (when their compare holds). */
export function isWrite(h: RegisterHistory, i: number): boolean {
  const kind = h.kind[i] as StepKind;
  return kind !== StepKind.Get && kind !== StepKind.CasFailed;
}

/**
 * The state an operation needs to find to take effect with its recorded result (a get's
 * value, a successful or unknown cas's expected value), or -1 when any state will do or,
 * for a failed cas, when it needs a state other than one.
 */
export function requiredState(h: RegisterHistory, i: number): number {
  const kind = h.kind[i] as StepKind;
  return kind === StepKind.Get || kind === StepKind.CasSucceeded || kind === StepKind.CasUnknown ? h.observed[i]! : -1;
}

/**
 * The state after `ops[i]` takes effect in `state`, or ILLEGAL when its recorded result is
 * impossible there. An unknown cas whose compare fails is ILLEGAL rather than a no-op: not
 * linearizing it at all means the same thing and keeps it out of the memo.
 */
export function stepRegister(h: RegisterHistory, state: number, i: number): number {
  switch (h.kind[i] as StepKind) {
    case StepKind.Put:
      return h.written[i]!;
    case StepKind.Get:
      return state === h.observed[i] ? state : ILLEGAL;
    case StepKind.CasSucceeded:
    case StepKind.CasUnknown:
      return state === h.observed[i] ? h.written[i]! : ILLEGAL;
    case StepKind.CasFailed:
      return state !== h.observed[i] ? state : ILLEGAL;
    case StepKind.Delete:
      return ABSENT;
  }
}
