/** Majority and joint quorums: commit index and election outcome. */

export const VoteResult = { Pending: 1, Lost: 2, Won: 3 } as const;
export type VoteResult = (typeof VoteResult)[keyof typeof VoteResult];

/** Stands for "no constraint" when a (joint half of a) config has no voters. */
export const UNBOUNDED_INDEX = Number.MAX_SAFE_INTEGER;

/**
 * The largest index acknowledged by a majority of `voters`, given each
 * voter's acknowledged index (missing voters count as 0).
 */
export function majorityCommitted(voters: ReadonlySet<bigint>, acked: (id: bigint) => number | undefined): number {
  const n = voters.size;
  if (n === 0) return UNBOUNDED_INDEX;
  const srt: number[] = [];
  for (const id of voters) srt.push(acked(id) ?? 0);
  srt.sort((a, b) => a - b);
  // The value at this position is acknowledged by at least n/2+1 voters.
  return srt[n - (Math.floor(n / 2) + 1)]!;
}

export function jointCommitted(
  incoming: ReadonlySet<bigint>,
  outgoing: ReadonlySet<bigint>,
  acked: (id: bigint) => number | undefined,
): number {
  return Math.min(majorityCommitted(incoming, acked), majorityCommitted(outgoing, acked));
}

/** Outcome of an election among `voters` given the votes recorded so far. */
export function majorityVoteResult(voters: ReadonlySet<bigint>, votes: ReadonlyMap<bigint, boolean>): VoteResult {
  if (voters.size === 0) return VoteResult.Won;
  let yes = 0;
  let missing = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === undefined) missing++;
    else if (v) yes++;
  }
  const q = Math.floor(voters.size / 2) + 1;
  if (yes >= q) return VoteResult.Won;
  if (yes + missing >= q) return VoteResult.Pending;
  return VoteResult.Lost;
}

export function jointVoteResult(
  incoming: ReadonlySet<bigint>,
  outgoing: ReadonlySet<bigint>,
  votes: ReadonlyMap<bigint, boolean>,
): VoteResult {
  const r1 = majorityVoteResult(incoming, votes);
  const r2 = majorityVoteResult(outgoing, votes);
  if (r1 === r2) return r1;
  if (r1 === VoteResult.Lost || r2 === VoteResult.Lost) return VoteResult.Lost;
  return VoteResult.Pending;
}
