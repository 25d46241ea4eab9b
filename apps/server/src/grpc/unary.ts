import { status, type sendUnaryData, type ServerErrorResponse, type ServerUnaryCall } from '@grpc/grpc-js';
import { EtcdError, EtcdErrors } from '@raftkv/api';
import { toEtcdError } from '../apply/applier.js';

/** What a handler body may read of its call: metadata (the auth token) and the peer (CN auth). */
export type UnaryCall = Pick<ServerUnaryCall<unknown, unknown>, 'metadata' | 'getPeer'>;

type Unary<Req, Res> = (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void;

type UnexpectedErrorListener = (err: unknown) => void;
let reportUnexpected: UnexpectedErrorListener = (err) => {
  process.stderr.write(`raftkv: unexpected error in a request handler: ${err instanceof Error ? err.stack : String(err)}\n`);
};

/**
 * Where errors that are not etcd's (bugs) are reported; the server points this at its logger.
 * Clients only ever see `EtcdErrors.Internal` for them.
 */
export function onUnexpectedError(listener: UnexpectedErrorListener): void {
  reportUnexpected = listener;
}

/**
 * Any error a handler raises as the gRPC status etcd would send. Anything else is INTERNAL with
 * a generic message: internal error text (a RangeError, a stack) never reaches a client.
 */
export function toServiceError(err: unknown): ServerErrorResponse {
  const known = toEtcdError(err);
  if (known) return known.toServiceError();
  reportUnexpected(err);
  return EtcdErrors.Internal.toServiceError();
}

/** Runs a handler body and turns etcd errors (thrown or rejected) into gRPC statuses. */
export function unary<Req, Res>(body: (req: Req, call: ServerUnaryCall<Req, Res>) => Res | Promise<Res>): Unary<Req, Res> {
  return (call, callback) => {
    let result: Res | Promise<Res>;
    try {
      result = body(call.request, call);
    } catch (err) {
      callback(toServiceError(err));
      return;
    }
    if (result instanceof Promise) {
      result.then((res) => callback(null, res), (err: unknown) => callback(toServiceError(err)));
    } else {
      callback(null, result);
    }
  };
}

/** A handler for an RPC this version does not serve yet: UNIMPLEMENTED, naming the method. */
export function notImplemented(method: string) {
  return (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<never>): void => {
    callback(new EtcdError(status.UNIMPLEMENTED, `raftkv: ${method} is not implemented yet`).toServiceError());
  };
}
