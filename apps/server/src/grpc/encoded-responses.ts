/**
 * A method definition whose serializer passes a Buffer through as it is: the handler encoded the
 * response itself (by hand, or on a worker) where the generated encoder cost too much. Anything
 * else goes through the method's own serializer.
 */
export function passingEncoded<M extends { responseSerialize: (value: never) => Buffer }>(
  method: M,
): Omit<M, 'responseSerialize'> & { responseSerialize: (value: Parameters<M['responseSerialize']>[0] | Buffer) => Buffer } {
  const encode = method.responseSerialize as (value: Parameters<M['responseSerialize']>[0]) => Buffer;
  return { ...method, responseSerialize: (value) => (Buffer.isBuffer(value) ? value : encode(value)) };
}
