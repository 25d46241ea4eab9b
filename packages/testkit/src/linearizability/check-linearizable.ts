/**
 * `checkLinearizable`: partitions a history by key, searches each key, and on a violation
 * shrinks that key's operations to a small failing sub-history to show as the witness.
 */
import { formatOperation, type Operation } from './history.js';
import { compileRegister } from './register-model.js';
import { searchRegister, type SearchLimits, type SearchOutcome } from './wgl-search.js';

/** Limits and starting state for {@link checkLinearizable}. Every field has a default. */
export interface CheckOptions {
  /** Search loop iterations per key before answering `unknown`. Default 10,000,000. */
  readonly maxStepsPerKey?: number;
  /** Memo bytes per key before answering `unknown`. Default 256 MiB. */
  readonly maxMemoBytesPerKey?: number;
  /** Values keys held before the history began; absent otherwise. */
  readonly initialValues?: ReadonlyMap<string, string>;
  /** Shrink a violation to a small failing sub-history. Default true. */
  readonly shrinkWitness?: boolean;
  /** Searches the shrinker may run (each with at most 200,000 steps). Default 400. */
  readonly maxShrinkSearches?: number;
}

export interface CheckStats {
  /** Keys searched (up to and including the one that failed, if any). */
  readonly keys: number;
  readonly operations: number;
  /** Search loop iterations over all keys searched, shrinking not included. */
  readonly steps: number;
}

/** A failing sub-history of one key: no order of these operations explains every result. */
export interface Witness {
  /** By invocation time. A sub-history of the key's operations, itself not linearizable. */
  readonly operations: readonly Operation[];
  /** Human-readable: a headline and one line per operation (see `formatOperation`). */
  readonly description: string;
}

export type LinearizabilityResult =
  | { readonly ok: true; readonly stats: CheckStats }
  | { readonly ok: false; readonly key: string; readonly witness: Witness; readonly stats: CheckStats }
  | { readonly ok: 'unknown'; readonly key: string; readonly reason: string; readonly stats: CheckStats };

const DEFAULT_MAX_STEPS = 10_000_000;
const DEFAULT_MAX_MEMO_BYTES = 256 * 1024 * 1024;
const DEFAULT_MAX_SHRINK_SEARCHES = 400;
const SHRINK_STEPS_PER_SEARCH = 200_000;

/**
 * Decides whether `history` is linearizable against a register per key (see the module
 * README in `index.ts` for the model).
 *
 * Keys are checked one by one in sorted order (P-compositionality: the history is
 * linearizable iff every key's sub-history is). The first key with a violation is reported
 * with a witness; if no key fails but some key's search ran out of budget, the answer is
 * `unknown` naming that key. Deterministic for a given history and options.
 *
 * @throws RangeError / TypeError for a malformed history: duplicate ids, times that are not
 *   finite, a completion before its invocation, or a result of the wrong shape.
 */
export function checkLinearizable(history: readonly Operation[], opts: CheckOptions = {}): LinearizabilityResult {
  validate(history);
  const limits: SearchLimits = {
    maxSteps: opts.maxStepsPerKey ?? DEFAULT_MAX_STEPS,
    maxMemoBytes: opts.maxMemoBytesPerKey ?? DEFAULT_MAX_MEMO_BYTES,
  };
  const byKey = new Map<string, Operation[]>();
  for (const op of history) {
    let ops = byKey.get(op.input.key);
    if (ops === undefined) byKey.set(op.input.key, (ops = []));
    ops.push(op);
  }
  const keys = [...byKey.keys()].sort();
  let steps = 0;
  let searched = 0;
  let unknown: { key: string; reason: string } | undefined;
  for (const key of keys) {
    const ops = byKey.get(key)!;
    const initial = opts.initialValues?.get(key);
    const outcome = searchRegister(compileRegister(ops, initial), limits);
    steps += outcome.steps;
    searched++;
    if (outcome.kind === 'violation') {
      const stats = { keys: searched, operations: history.length, steps };
      const shrink = opts.shrinkWitness ?? true;
      const budget = opts.maxShrinkSearches ?? DEFAULT_MAX_SHRINK_SEARCHES;
      const witness = shrink ? shrinkViolation(ops, outcome.blocked, initial, limits, budget) : describe(key, ops, ops.length, false);
      return { ok: false, key, witness, stats };
    }
    if (outcome.kind === 'budget' && unknown === undefined) unknown = { key, reason: outcome.reason };
  }
  const stats = { keys: searched, operations: history.length, steps };
  if (unknown !== undefined) {
    return { ok: 'unknown', key: unknown.key, reason: `key ${JSON.stringify(unknown.key)}: ${unknown.reason}`, stats };
  }
  return { ok: true, stats };
}

/**
 * Shrinks a non-linearizable key history to a small one that is still not linearizable.
 *
 * Every observation (a get's value, a successful cas's expected value, absence included)
 * has a source: the latest write of that value invoked before the observer completed. A
 * candidate must keep the source of each observation it keeps; otherwise cutting a write or
 * a delete would invent anomalies of its own ("a read of a value nobody wrote", "a create
 * on a key that exists") and hide the real one.
 *
 * First a window of time ending where the search got stuck (`blocked`'s completion) and
 * starting ever earlier (doubling) until it fails on its own, with the later observers of
 * the values written in it and the sources of everything observed. Then ddmin-style removal
 * of chunks down to single operations, keeping a removal only if the rest still fails.
 * Searches that run out of their small budget count as "does not fail", so whatever is
 * returned has been seen to fail.
 */
function shrinkViolation(
  ops: readonly Operation[],
  blocked: Operation,
  initial: string | undefined,
  limits: SearchLimits,
  maxSearches: number,
): Witness {
  const key = ops[0]!.input.key;
  let searches = 0;
  const shrinkLimits = { ...limits, maxSteps: Math.min(limits.maxSteps, SHRINK_STEPS_PER_SEARCH) };
  const fails = (candidate: readonly Operation[]): boolean => {
    searches++;
    const outcome: SearchOutcome = searchRegister(compileRegister(candidate, initial), shrinkLimits);
    return outcome.kind === 'violation';
  };
  const byInvoke = (a: Operation, b: Operation): number => a.invokeMs - b.invokeMs || a.id - b.id;
  const all = [...ops].sort(byInvoke);
  const sourceOf = sources(all);
  const keepsSources = (candidate: readonly Operation[]): boolean => {
    const kept = new Set(candidate);
    return candidate.every((op) => {
      const source = sourceOf.get(op);
      return source === undefined || kept.has(source);
    });
  };

  let current = all;
  if (blocked.outcome.status === 'ok') {
    const end = blocked.outcome.completeMs;
    const earliest = all[0]!.invokeMs;
    const span = Math.max(end - blocked.invokeMs, 1e-3);
    for (let width = 0; searches < maxSearches; width = width === 0 ? span : width * 2) {
      const start = blocked.invokeMs - width;
      if (start <= earliest) break;
      const chosen = new Set(
        all.filter((op) => op.invokeMs <= end && (op.invokeMs >= start || op.outcome.status === 'unknown' || op.outcome.completeMs >= start)),
      );
      let laterObservers = 0;
      for (const op of all) {
        const source = sourceOf.get(op);
        if (op.invokeMs > end && source !== undefined && chosen.has(source) && laterObservers++ < MAX_LATER_OBSERVERS) chosen.add(op);
      }
      for (const op of [...chosen]) {
        // Sources come before their observers, so following the chain ends.
        for (let source = sourceOf.get(op); source !== undefined && !chosen.has(source); source = sourceOf.get(source)) {
          chosen.add(source);
        }
      }
      const candidate = all.filter((op) => chosen.has(op));
      if (fails(candidate)) {
        current = candidate;
        break;
      }
    }
  }

  let minimal = false;
  for (let chunk = Math.max(1, current.length >>> 1); ; chunk = Math.max(1, chunk >>> 1)) {
    let removedAny = false;
    for (let start = 0; start < current.length && searches < maxSearches; ) {
      const candidate = [...current.slice(0, start), ...current.slice(start + chunk)];
      if (candidate.length > 0 && keepsSources(candidate) && fails(candidate)) {
        current = candidate;
        removedAny = true;
      } else {
        start += chunk;
      }
    }
    if (searches >= maxSearches) break;
    if (chunk === 1 && !removedAny) {
      minimal = true;
      break;
    }
  }
  return describe(key, current, ops.length, minimal);
}

/** Observers of the values a window writes that the window search adds, at most. */
const MAX_LATER_OBSERVERS = 64;

/** For each observing operation of `byInvoke`, the source of what it observed (see above). */
function sources(byInvoke: readonly Operation[]): Map<Operation, Operation> {
  const writersByValue = new Map<string | undefined, Operation[]>();
  for (const op of byInvoke) {
    const w = writeOf(op);
    if (w === null) continue;
    let list = writersByValue.get(w.value);
    if (list === undefined) writersByValue.set(w.value, (list = []));
    list.push(op);
  }
  const result = new Map<Operation, Operation>();
  for (const op of byInvoke) {
    const seen = observationOf(op);
    if (seen === null || op.outcome.status !== 'ok') continue;
    const completeMs = op.outcome.completeMs;
    const writers = writersByValue.get(seen.value) ?? [];
    let source: Operation | undefined;
    for (const w of writers) {
      if (w.invokeMs > completeMs) break;
      if (w !== op) source = w;
    }
    if (source !== undefined) result.set(op, source);
  }
  return result;
}

/** The value `op` may write (absence for a delete), or null for gets and failed cas. */
function writeOf(op: Operation): { value: string | undefined } | null {
  switch (op.input.type) {
    case 'put':
      return { value: op.input.value };
    case 'delete':
      return { value: undefined };
    case 'cas':
      return op.outcome.status === 'ok' && op.outcome.result === 'failed' ? null : { value: op.input.value };
    case 'get':
      return null;
  }
}

/** The value a completed get returned or a successful cas compared equal to, or null. */
function observationOf(op: Operation): { value: string | undefined } | null {
  if (op.outcome.status !== 'ok') return null;
  if (op.input.type === 'get') return { value: op.outcome.result as string | undefined };
  if (op.input.type === 'cas' && op.outcome.result === 'ok') return { value: op.input.expected };
  return null;
}

function describe(key: string, ops: readonly Operation[], total: number, minimal: boolean): Witness {
  const sorted = [...ops].sort((a, b) => a.invokeMs - b.invokeMs || a.id - b.id);
  const headline =
    `key ${JSON.stringify(key)}: no linearization explains these ${sorted.length} of its ${total} operations` +
    (minimal ? ' (shrunk as far as it goes: without any one of them the rest is linearizable, or an observation loses its source write)' : '');
  return { operations: sorted, description: [headline, ...sorted.map((op) => `  ${formatOperation(op)}`)].join('\n') };
}

function validate(history: readonly Operation[]): void {
  const ids = new Set<number>();
  for (const op of history) {
    if (ids.has(op.id)) throw new RangeError(`duplicate operation id ${op.id}`);
    ids.add(op.id);
    if (!Number.isFinite(op.invokeMs)) throw new RangeError(`operation ${op.id}: invokeMs is not finite`);
    if (op.outcome.status === 'unknown') continue;
    const { completeMs, result } = op.outcome;
    if (!Number.isFinite(completeMs) || completeMs < op.invokeMs) {
      throw new RangeError(`operation ${op.id}: completeMs ${completeMs} is not finite or before invokeMs ${op.invokeMs}`);
    }
    const type = op.input.type;
    const shapeOk =
      type === 'get'
        ? result === undefined || typeof result === 'string'
        : type === 'cas'
          ? result === 'ok' || result === 'failed'
          : result === 'ok';
    if (!shapeOk) throw new TypeError(`operation ${op.id}: ${String(result)} is not a result of ${type}`);
  }
}
