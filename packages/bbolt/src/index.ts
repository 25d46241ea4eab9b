// @raftkv/bbolt: read and write files in bbolt's format (etcd's backend and its snapshots).
export { BoltReader, BoltBucket, type BoltEntry } from './reader.js';
export { BoltWriter, type BoltLayout, type BoltSink, type BoltWriterOptions } from './writer.js';
export { BoltFormatError, type Meta } from './format.js';
