import { describe, expect, it } from 'vitest';
import { authorityOfUrl } from './authority-relay.js';

describe('authorityOfUrl', () => {
  it.each([
    ['http://127.0.0.1:2379', '127.0.0.1:2379'],
    ['https://[::1]:2379', '[::1]:2379'],
    ['http://user@host:1/path?q', 'host:1'],
    ['unix://sock', 'sock'],
  ])('authority of %s is %s', (url, expected) => {
    expect(authorityOfUrl(url)).toBe(expected);
  });
});
