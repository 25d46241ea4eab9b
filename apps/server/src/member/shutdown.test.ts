import { describe, expect, it } from 'vitest';
import { ShutdownStack, ShutdownTimeoutError } from './shutdown.js';

describe('ShutdownStack', () => {
  it('closes parts newest first, each once', async () => {
    const order: string[] = [];
    const stack = new ShutdownStack();
    for (const name of ['locks', 'backend', 'raft', 'door']) stack.add(name, () => { order.push(name); });
    const a = stack.close(1000);
    const b = stack.close(1000);
    await Promise.all([a, b]);
    expect(order).toEqual(['door', 'raft', 'backend', 'locks']);
  });

  it('waits for an asynchronous step before starting the next', async () => {
    const order: string[] = [];
    const stack = new ShutdownStack();
    stack.add('first', () => { order.push('first'); });
    stack.add('slow', async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      order.push('slow done');
    });
    await stack.close(1000);
    expect(order).toEqual(['slow done', 'first']);
  });

  it('runs the remaining steps after one throws, reports it, and rejects with its error', async () => {
    const order: string[] = [];
    const reported: string[] = [];
    const stack = new ShutdownStack((step) => reported.push(step));
    stack.add('locks', () => { order.push('locks'); });
    stack.add('broken', () => { throw new Error('boom'); });
    stack.add('door', () => { order.push('door'); });
    await expect(stack.close(1000)).rejects.toThrow('boom');
    expect(order).toEqual(['door', 'locks']);
    expect(reported).toEqual(['broken']);
  });

  it('stops at a step that passes the deadline and names it, without closing what it may still use', async () => {
    const order: string[] = [];
    const stack = new ShutdownStack();
    stack.add('backend', () => { order.push('backend'); });
    stack.add('raft', () => new Promise<void>(() => {}));
    stack.add('door', () => { order.push('door'); });
    const err = await stack.close(50).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShutdownTimeoutError);
    expect((err as ShutdownTimeoutError).step).toBe('raft');
    expect(order).toEqual(['door']);
  });

  it('refuses parts started once shutdown began', async () => {
    const stack = new ShutdownStack();
    expect(stack.isClosing).toBe(false);
    await stack.close(100);
    expect(stack.isClosing).toBe(true);
    expect(() => stack.add('late', () => {})).toThrow(/during shutdown/);
  });
});
