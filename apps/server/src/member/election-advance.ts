/**
 * How often boot looks for connected peers, and for how long (up to rafthttp's 5 s read timeout,
 * as etcd). etcd looks every 50 ms; at 10 ms the advance follows the quorum's last peer stream by
 * 0-10 ms instead of 0-50 (measured 16-52 ms at 50), and with it the first election. The rule is
 * etcd's: the same count of peers, the same ticks; a check is a count of the transport's peers.
 */
const POLL_MS = 10;
const WAIT_MS = 5_000;

export interface ElectionAdvanceOptions {
  /** Voters in the configuration the member booted with. */
  readonly voters: number;
  /** Peers this member has a working connection to now. */
  activePeers(): number;
  /** Fast-forwards raft's logical clock (RaftLog.advanceTicks). */
  advanceTicks(n: number): void;
  /** The election timeout in ticks. */
  readonly electionTicks: number;
  /** --initial-election-tick-advance. */
  readonly enabled: boolean;
}

/**
 * etcd's adjustTicks at boot. A lone voter advances to one tick before its election timeout (it
 * needs no one to win). With peers, and --initial-election-tick-advance, it waits until more than
 * one peer is connected and then advances to two ticks before the timeout: the first election
 * comes soon after the cluster can hold one, while a leader's heartbeat arriving in those two
 * ticks still prevents a needless election. Returns a stop function.
 */
export function adjustTicksAtBoot(o: ElectionAdvanceOptions): () => void {
  if (o.voters === 1) {
    o.advanceTicks(o.electionTicks - 1);
    return () => undefined;
  }
  if (!o.enabled || o.electionTicks <= 2) return () => undefined;
  const started = Date.now();
  const timer = setInterval(() => {
    if (o.activePeers() > 1) {
      clearInterval(timer);
      o.advanceTicks(o.electionTicks - 2);
    } else if (Date.now() - started >= WAIT_MS) {
      clearInterval(timer);
    }
  }, POLL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
