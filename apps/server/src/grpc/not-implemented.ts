import { status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';

/** A handler for an RPC this version does not serve yet: UNIMPLEMENTED, naming the method. */
export function notImplemented(method: string) {
  return (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<never>): void => {
    callback({ code: status.UNIMPLEMENTED, details: `raftkv: ${method} is not implemented yet`, name: 'Error', message: method, metadata: undefined as never });
  };
}
