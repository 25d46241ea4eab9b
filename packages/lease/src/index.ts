export { Lessor } from './lessor.js';
export type {
  LeaseCheckpoint,
  LeaseGrant,
  LeaseInfo,
  LeaseTimeToLive,
  LeasedKey,
  LessorOptions,
  LessorRecovery,
  LessorStats,
} from './lessor.js';
export type { Clock, LeaseStore } from './lease-store.js';
export { MAX_LEASE_TTL_SECONDS, minLeaseTtlSeconds } from './lease-ttl.js';
export {
  LeaseError,
  LeaseExistError,
  LeaseNotFoundError,
  LeaseTTLTooLargeError,
  NotPrimaryError,
  TooManyLeasesError,
} from './errors.js';
export type { LeaseErrorCode } from './errors.js';
export { decodeLease, encodeLease, type LeaseRecord } from './lease-codec.js';
