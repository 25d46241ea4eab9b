import { describe, expect, it } from 'vitest';
import { clientIdentity, connectionKey, recordClientIdentity } from './client-identities.js';

describe('client identities by connection', () => {
  it('keys a connection by both ends, and has no key without all four', () => {
    expect(connectionKey({ localAddress: '127.0.0.1', localPort: 2379, remoteAddress: '127.0.0.1', remotePort: 50000 })).toBe('127.0.0.1:2379|127.0.0.1:50000');
    expect(connectionKey({ localAddress: '127.0.0.1', localPort: 2379 })).toBeUndefined();
  });

  it('a closed connection forgets only its own entry, even when a new one reused its four-tuple with the same CN', () => {
    const key = connectionKey({ localAddress: '127.0.0.1', localPort: 2379, remoteAddress: '127.0.0.1', remotePort: 50001 })!;
    let closeOld!: () => void;
    let closeNew!: () => void;
    recordClientIdentity(key, 'root', (forget) => { closeOld = forget; });
    recordClientIdentity(key, 'root', (forget) => { closeNew = forget; }); // loopback reuses the tuple at once
    closeOld(); // the old connection's 'close' arrives late
    expect(clientIdentity(key)).toBe('root');
    closeNew();
    expect(clientIdentity(key)).toBeUndefined();
  });
});
