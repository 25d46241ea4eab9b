// Raw gRPC calls: request bytes in, status and response bytes out (identity serializers), so the
// fuzzer can send bytes no generated client would.
import { Client, Metadata, credentials, status, type ServiceError } from '@grpc/grpc-js';

/** What a server answered: the gRPC status code (0 = OK), its message, and the response bytes. */
export interface Outcome {
  readonly code: number;
  readonly details: string;
  readonly body?: Buffer;
}

const identity = (b: Buffer): Buffer => b;

export const CODE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(status).filter(([, v]) => typeof v === 'number').map(([k, v]) => [v as number, k]),
);

export class RawClient {
  private client: Client;

  constructor(readonly endpoint: string) {
    this.client = RawClient.make(endpoint);
  }

  private static make(endpoint: string): Client {
    return new Client(endpoint, credentials.createInsecure(), {
      'grpc.max_receive_message_length': -1,
      'grpc.max_send_message_length': -1,
      // A restarted server is back on the same port within seconds: do not back off for long.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 500,
    });
  }

  /** Drops the channel and opens a new one (after the server restarted). */
  reset(): void {
    this.client.close();
    this.client = RawClient.make(this.endpoint);
  }

  unary(path: string, bytes: Buffer, deadlineMs: number, metadata?: Metadata): Promise<Outcome> {
    return new Promise((resolve) => {
      this.client.makeUnaryRequest(path, identity, identity, bytes, metadata ?? new Metadata(), { deadline: Date.now() + deadlineMs },
        (err: ServiceError | null, res?: Buffer) => {
          if (err) resolve({ code: err.code, details: err.details });
          else resolve({ code: status.OK, details: '', body: res ?? Buffer.alloc(0) });
        });
    });
  }

  close(): void {
    this.client.close();
  }
}
