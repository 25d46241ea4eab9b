import { describe, expect, it } from 'vitest';
import { DEFAULT_FRONT_DOOR_LIMITS, grpcServerOptions, resolveLimits } from './limits.js';

describe('front door limits', () => {
  it('defaults: no connection cap and no idle timeout (as etcd), etcd\'s keepalive, 10 s handshake, nghttp2/Node sizes', () => {
    expect(resolveLimits()).toEqual(DEFAULT_FRONT_DOOR_LIMITS);
    expect(DEFAULT_FRONT_DOOR_LIMITS).toMatchObject({
      maxConnections: 0, idleTimeoutMs: 0, keepaliveIntervalMs: 7_200_000, keepaliveTimeoutMs: 20_000, handshakeTimeoutMs: 10_000, maxFrameBytes: 16_384,
      maxHeaderBlockBytes: 65_536, maxContinuationFrames: 16, maxHeaderListBytes: 65_535,
    });
  });

  it('applies overrides', () => {
    expect(resolveLimits({ maxConnections: 10, idleTimeoutMs: 5 })).toMatchObject({ maxConnections: 10, idleTimeoutMs: 5, handshakeTimeoutMs: 10_000 });
  });

  it.each([
    [{ maxConnections: -1 }, /maxConnections/],
    [{ handshakeTimeoutMs: 1.5 }, /handshakeTimeoutMs/],
    [{ handshakeTimeoutMs: 0 }, /handshakeTimeoutMs must be positive/],
    [{ maxFrameBytes: 1000 }, /maxFrameBytes/],
    [{ maxFrameBytes: 2 ** 24 }, /maxFrameBytes/],
    [{ headersTimeoutMs: 10_000, requestTimeoutMs: 5_000 }, /requestTimeoutMs/],
  ])('refuses %j', (overrides, message) => {
    expect(() => resolveLimits(overrides)).toThrow(message);
  });

  it('carries the header list cap and the idle timeout into the gRPC server options', () => {
    const keepalive = { 'grpc.keepalive_time_ms': 7_200_000, 'grpc.keepalive_timeout_ms': 20_000 };
    expect(grpcServerOptions(resolveLimits())).toEqual({ 'grpc.max_metadata_size': 65_535, ...keepalive });
    expect(grpcServerOptions(resolveLimits({ idleTimeoutMs: 60_000 }))).toEqual({ 'grpc.max_metadata_size': 65_535, 'grpc.max_connection_idle_ms': 60_000, ...keepalive });
    expect(grpcServerOptions(resolveLimits({ keepaliveIntervalMs: 0 }))).toEqual({ 'grpc.max_metadata_size': 65_535 });
  });
});
