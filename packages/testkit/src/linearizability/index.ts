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
 *   (Knossos semantics). An unknown get constrains nothing and is ignored. An error that
 *   proves the request did not take effect may instead be left out of the history; when
 *   in doubt record it as unknown, which is always sound, only slower to check.
 * - Times must all come from one monotonic clock (the recorder's). Clients of different
 *   processes or machines cannot be mixed without a shared clock.
 *
 * ## Algorithm
 * Linearizability is compositional (Herlihy & Wing's locality, "P-compositionality" in
 * Horn & Kroening), so the history is split by key and each key is checked alone. Per key,
 * the Wing & Gong search with Lowe's memo of (linearized-set bitset, state), as in Lowe's
 * "Testing for linearizability" and the porcupine checker: see `wgl-search.ts`. Sound
 * prunes on top, each argued where it is coded and cross-checked against brute force on
 * small random histories (`reference-check.test.ts`):
 * - a read-only operation (get, failed cas) whose result holds is taken at once, with no
 *   alternative tried;
 * - a write that would leave some completed operation needing the current value with no
 *   write left to bring it back is not tried (a value is only overwritten once all its
 *   readers are placed), which is what makes violations cheap to find;
 * - unknown writes that nothing can observe are left out;
 * - values no operation reads or compares against fold into one model state.
 *
 * ## Limits
 * - The search is exponential in the worst case. It is bounded per key by a step budget
 *   (`maxStepsPerKey`, default 10M; a step is one event looked at, ~0.1-1 us) and a memo
 *   size budget (`maxMemoBytesPerKey`, default 256 MiB); past either the answer is
 *   `{ ok: 'unknown' }`, never a hang. Many concurrent writes of reused values, and many
 *   unknown writes (each stays pending to the end and is looked at on every scan), are what
 *   make it expensive: write unique values where the test allows.
 * - Measured here (one key, 10 clients, 3000 operations, ~10 in flight; printed by
 *   `simulated-history.test.ts`): linearizable histories with 0-1% unknown outcomes take
 *   25k-70k steps, 15-100 ms; with 10% unknown, 0.2M-6.7M steps, 0.1-0.6 s. One stale
 *   read among 3000 operations is found and shrunk to a 3-4 operation witness in ~10 ms.
 * - The witness is "minimal-ish": a window of time around where the search got stuck, then
 *   greedy removal of operations while the rest still fails, keeping the write each kept
 *   observation saw, within `maxShrinkSearches`.
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
