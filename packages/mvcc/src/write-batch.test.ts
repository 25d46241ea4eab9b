import { describe, expect, it } from 'vitest';
import { WriteBatch } from './write-batch.js';

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));
const text = (b: Uint8Array): string => Buffer.from(b).toString();

describe('WriteBatch', () => {
  it('finds each change by revision, with its bytes and whether it is a tombstone', () => {
    const batch = new WriteBatch();
    batch.add({ main: 5, sub: 0 }, false, bytes('a'));
    batch.add({ main: 5, sub: 1 }, true, bytes('b'));
    batch.add({ main: 6, sub: 0 }, false, bytes('c'));
    expect(batch.size).toBe(3);
    const i = batch.find({ main: 5, sub: 1 });
    expect(i).toBe(1);
    expect(batch.tombstone(i)).toBe(true);
    expect(text(batch.bytes(i))).toBe('b');
    expect(text(batch.bytes(batch.find({ main: 6, sub: 0 })))).toBe('c');
    expect(batch.find({ main: 5, sub: 2 })).toBe(-1);
    expect(batch.find({ main: 4, sub: 0 })).toBe(-1);
    expect(batch.find({ main: 7, sub: 0 })).toBe(-1);
  });

  it('refuses a revision that does not follow the last one, and takes back another batch in order', () => {
    const batch = new WriteBatch();
    batch.add({ main: 1, sub: 0 }, false, bytes('x'));
    expect(() => batch.add({ main: 3, sub: 0 }, false, bytes('y'))).toThrow(/out of order/);
    const later = new WriteBatch();
    later.add({ main: 2, sub: 0 }, true, bytes('z'));
    batch.addAll(later);
    const i = batch.find({ main: 2, sub: 0 });
    expect(batch.tombstone(i)).toBe(true);
    expect(text(batch.bytes(i))).toBe('z');
  });
});
