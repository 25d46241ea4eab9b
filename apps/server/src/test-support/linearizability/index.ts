/**
 * # Linearizability checker for recorded KV histories
 *
 * Tests record what their clients did with {@link HistoryRecorder} (puts, linearizable
 * gets, compare-and-swap txns, deletes; from many clients, against any members, under
 * faults) and ask {@link checkLinearizable} whether some single order of the operations,
 * consistent with real time, explains every result.
 *
 * ## Model
 * - Each key is an independent register holding a string or nothing (initially nothing,
 *   or `opts.initialValues`). `put` writes; `get` returns the value or `undefined`;
 *   `cas(expected, value)` writes `value` iff the current value equals `expected`
 *   (`undefined` = absent) and returns `'ok'`, else changes nothing and returns `'failed'`;
 *   `delete` makes the key absent.
 * - An operation takes effect atomically at one instant between its invocation and its
 *   completion. Operations whose intervals overlap may take effect in either order; if A
 *   completed before B was invoked, A took effect first. Equal timestamps count as
 *   overlapping, so a coarse clock can only make the check more lenient.
 * - An operation whose outcome is unknown (timeout, connection lost, member killed) may
 *   take effect at any instant after its invocation, or never: its completion is +infinity
 *   (Knossos semantics). An unknown get constrains nothing and is ignored.
 * - Times must all come from one monotonic clock (the recorder's). Clients of different
 *   processes or machines cannot be mixed without a shared clock.
 *
 * ## Algorithm
 * Linearizability is compositional (Herlihy & Wing's locality, "P-compositionality" in
 * Horn & Kroening), so the history is split by key and each key is checked alone. Per key,
 * the Wing & Gong search with Lowe's memo of (linearized set, state), as in Lowe's
 * "Testing for linearizability" and the porcupine checker: see `wgl-search.ts`. Values that
 * no operation reads or compares against are folded into one model state, which keeps
 * histories of unique write values small.
 *
 * ## Limits
 * - The search is exponential in the worst case. It is bounded per key by a step budget
 *   (`maxStepsPerKey`, default 2M) and a memo size budget (`maxMemoBytesPerKey`, default
 *   256 MiB); past either the answer is `{ ok: 'unknown' }`, never a hang. Many concurrent
 *   unknown writes of values that are later read are what makes it expensive.
 * - Typical histories (thousands of operations on a key, ~10 clients, few unknowns) take
 *   a number of steps close to the number of operations: milliseconds.
 * - The witness is "minimal-ish": the shortest failing prefix found by binary search, then
 *   greedy removal of operations while the rest still fails, within `maxShrinkSearches`.
 * - Multi-key transactions, ranges and revisions are not modelled; a txn touching several
 *   keys has to be checked some other way.
 *
 * @example
 * const rec = new HistoryRecorder();
 * const w = rec.invoke('c1', { type: 'put', key: 'k', value: 'a' });
 * rec.complete(w);
 * const r = rec.invoke('c2', { type: 'get', key: 'k' });
 * rec.complete(r, 'a');
 * const result = checkLinearizable(rec.history());
 * if (result.ok === false) throw new Error(result.witness.description);
 */
export {
  HistoryRecorder,
  formatOperation,
  type CasInput,
  type DeleteInput,
  type GetInput,
  type KvInput,
  type Operation,
  type Outcome,
  type PendingOperation,
  type PutInput,
  type ResultArgs,
  type ResultOf,
} from './history.js';
export {
  checkLinearizable,
  type CheckOptions,
  type CheckStats,
  type LinearizabilityResult,
  type Witness,
} from './check-linearizable.js';
