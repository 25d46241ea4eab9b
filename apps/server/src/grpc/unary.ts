import { status, type sendUnaryData, type ServerErrorResponse, type ServerUnaryCall } from '@grpc/grpc-js';
import { EtcdError } from '@raftkv/api';
import { LeaseError } from '@raftkv/lease';
import { MvccError } from '@raftkv/mvcc';
import { leaseErrorToEtcd, mvccErrorToEtcd } from '../apply/applier.js';

type Unary<Req, Res> = (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void;

/** Any error a handler raises as the gRPC status etcd would send (INTERNAL when it has none). */
export function toServiceError(err: unknown): ServerErrorResponse {
  if (err instanceof EtcdError) return err.toServiceError();
  if (err instanceof MvccError) return mvccErrorToEtcd(err).toServiceError();
  if (err instanceof LeaseError) return leaseErrorToEtcd(err).toServiceError();
  return new EtcdError(status.INTERNAL, err instanceof Error ? err.message : String(err)).toServiceError();
}

/** Runs a handler body and turns etcd errors (thrown or rejected) into gRPC statuses. */
export function unary<Req, Res>(body: (req: Req) => Res | Promise<Res>): Unary<Req, Res> {
  return (call, callback) => {
    let result: Res | Promise<Res>;
    try {
      result = body(call.request);
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
