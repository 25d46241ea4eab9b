/** CRC-32C, the one checksum implementation of the WAL and the mvcc backend. */
export { crc32c, Crc32c } from './crc32c.js';
