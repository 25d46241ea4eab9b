import {
  type Metadata,
  ServerInterceptingCall,
  type Responder,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  type ServerListener,
  type ServiceDefinition,
} from '@grpc/grpc-js';
import { Counter, Histogram, type Registry } from 'prom-client';
import { messagesInWrite } from '../grpc/encoded-responses.js';
import type { LeanCallCounts } from '../grpc/lean-unary.js';

/** Go's names of the gRPC status codes, by number: the `grpc_code` label of go-grpc-prometheus. */
export const GRPC_CODE_NAMES = [
  'OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded', 'NotFound', 'AlreadyExists', 'PermissionDenied',
  'ResourceExhausted', 'FailedPrecondition', 'Aborted', 'OutOfRange', 'Unimplemented', 'Internal', 'Unavailable',
  'DataLoss', 'Unauthenticated',
] as const;
const UNKNOWN = 2;
const CANCELLED = 1;

type GrpcType = 'unary' | 'client_stream' | 'server_stream' | 'bidi_stream';

/** What one method counts: plain numbers on the call path, turned into samples only at a scrape. */
interface MethodCounts {
  readonly type: GrpcType;
  readonly service: string;
  readonly method: string;
  started: number;
  msgReceived: number;
  msgSent: number;
  /** Calls handled, by status code. */
  readonly handled: Float64Array;
  /** Built once per method, shared by its calls (a unary call allocates nothing of its own for metrics). */
  readonly listener: ServerListener;
  readonly responder: Responder;
  /** --metrics extensive: grpc_server_handling_seconds, bound to this method's labels once. */
  readonly handling: { observe(seconds: number): void } | undefined;
  /** The lean path's counters of a unary method, built at its first call. */
  lean?: LeanCallCounts;
}

/** Distinct client_api_version values kept; a client-chosen label must not grow memory without end. */
const MAX_CLIENT_VERSIONS = 64;

/**
 * go-grpc-prometheus's server metrics, as etcd 3.4 exports them: grpc_server_started_total,
 * grpc_server_handled_total (by grpc_type, grpc_service, grpc_method, grpc_code),
 * grpc_server_msg_received_total and grpc_server_msg_sent_total; with `handlingTime` (etcd's
 * `--metrics extensive`) also the grpc_server_handling_seconds histogram. Every method of the
 * services given to {@link register} is exported from the start, its counters at 0, as
 * go-grpc-prometheus does.
 *
 * Cost on the call path: a few increments of plain numbers; a unary call's interceptor uses
 * objects built once per method. Streams get one closure each, to count a cancelled stream once.
 */
export class GrpcMetrics {
  private readonly byPath = new Map<string, MethodCounts>();
  /** etcd_server_client_requests_total: calls by the client's `client-api-version` metadata. */
  private readonly clientRequests = new Map<string, { unary: number; stream: number }>();
  private readonly handlingSeconds: Histogram<'grpc_type' | 'grpc_service' | 'grpc_method'> | undefined;

  constructor(registry: Registry, handlingTime: boolean) {
    const labelNames = ['grpc_type', 'grpc_service', 'grpc_method'] as const;
    const methods = (): MethodCounts[] => [...this.byPath.values()];
    new Counter({
      name: 'grpc_server_started_total', help: 'Total number of RPCs started on the server.', labelNames, registers: [registry],
      collect() {
        this.reset();
        for (const m of methods()) this.inc({ grpc_type: m.type, grpc_service: m.service, grpc_method: m.method }, m.started);
      },
    });
    new Counter({
      name: 'grpc_server_handled_total',
      help: 'Total number of RPCs completed on the server, regardless of success or failure.',
      labelNames: [...labelNames, 'grpc_code'], registers: [registry],
      collect() {
        this.reset();
        for (const m of methods()) {
          for (let code = 0; code < GRPC_CODE_NAMES.length; code++) {
            this.inc({ grpc_type: m.type, grpc_service: m.service, grpc_method: m.method, grpc_code: GRPC_CODE_NAMES[code]! }, m.handled[code]!);
          }
        }
      },
    });
    new Counter({
      name: 'grpc_server_msg_received_total', help: 'Total number of RPC stream messages received on the server.', labelNames, registers: [registry],
      collect() {
        this.reset();
        for (const m of methods()) this.inc({ grpc_type: m.type, grpc_service: m.service, grpc_method: m.method }, m.msgReceived);
      },
    });
    new Counter({
      name: 'grpc_server_msg_sent_total', help: 'Total number of gRPC stream messages sent by the server.', labelNames, registers: [registry],
      collect() {
        this.reset();
        for (const m of methods()) this.inc({ grpc_type: m.type, grpc_service: m.service, grpc_method: m.method }, m.msgSent);
      },
    });
    const clientRequests = this.clientRequests;
    // etcdserver/api/v3rpc: counted by etcd's interceptors, 'unary' or 'stream' (any streaming call).
    new Counter({
      name: 'etcd_server_client_requests_total', help: 'The total number of client requests per client version.',
      labelNames: ['type', 'client_api_version'], registers: [registry],
      collect() {
        this.reset();
        for (const [version, n] of clientRequests) {
          if (n.unary > 0) this.inc({ type: 'unary', client_api_version: version }, n.unary);
          if (n.stream > 0) this.inc({ type: 'stream', client_api_version: version }, n.stream);
        }
      },
    });
    if (handlingTime) {
      this.handlingSeconds = new Histogram({
        name: 'grpc_server_handling_seconds',
        help: 'Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.',
        labelNames, registers: [registry],
        // Prometheus's default buckets, which go-grpc-prometheus uses.
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      });
    }
  }

  /** Exports every method of these services (what the gRPC server serves), at 0 until called. */
  register(services: readonly ServiceDefinition[]): void {
    for (const service of services) {
      for (const def of Object.values(service)) this.methodOf(def.path, def.requestStream, def.responseStream);
    }
  }

  /** Counts a call (and, with handling time, times it); give it to the gRPC server's `interceptors`. */
  readonly interceptor: ServerInterceptor = (desc, call) => {
    const m = this.methodOf(desc.path, desc.requestStream, desc.responseStream);
    m.started++;
    if (m.type === 'unary' && m.handling === undefined) return new ServerInterceptingCall(call, m.responder);
    return this.trackedCall(m, call);
  };

  /**
   * Counts a unary call served outside grpc-js's interceptors (grpc/lean-unary.ts) as
   * {@link interceptor} counts it. Allocates only with handling time (a call's start and end).
   */
  leanUnaryCall(path: string, metadata: Metadata): LeanCallCounts {
    const m = this.methodOf(path, false, false);
    m.started++;
    this.countClientRequest(true, metadata);
    if (m.lean === undefined) {
      const handled = m.handled;
      m.lean = {
        received: () => { m.msgReceived++; },
        sent: () => { m.msgSent++; },
        ended: (code) => { handled[code < GRPC_CODE_NAMES.length ? code : UNKNOWN]!++; },
        cancelled: () => {},
      };
    }
    if (m.handling === undefined) return m.lean;
    const start = process.hrtime.bigint();
    let ended = false;
    const end = (code: number): void => {
      if (ended) return;
      ended = true;
      m.lean!.ended(code);
      m.handling!.observe(Number(process.hrtime.bigint() - start) / 1e9);
    };
    return { received: m.lean.received, sent: m.lean.sent, ended: end, cancelled: () => end(CANCELLED) };
  }

  /** A call whose end is counted once, whether it sends a status or is cancelled (a client ending a stream). */
  private trackedCall(m: MethodCounts, call: ServerInterceptingCallInterface): ServerInterceptingCall {
    const start = m.handling ? process.hrtime.bigint() : 0n;
    let ended = false;
    const end = (code: number): void => {
      if (ended) return;
      ended = true;
      m.handled[code < GRPC_CODE_NAMES.length ? code : UNKNOWN]!++;
      m.handling?.observe(Number(process.hrtime.bigint() - start) / 1e9);
    };
    const listener: ServerListener = {
      onReceiveMetadata: m.listener.onReceiveMetadata!,
      onReceiveMessage: m.listener.onReceiveMessage!,
      onCancel: () => end(CANCELLED),
    };
    return new ServerInterceptingCall(call, {
      start: (next) => next(listener),
      sendMessage: m.responder.sendMessage!,
      sendStatus: (status, next) => {
        end(status.code);
        next(status);
      },
    });
  }

  private countClientRequest(unary: boolean, metadata: Metadata): void {
    const v = metadata.get('client-api-version')[0];
    let version = typeof v === 'string' ? v : 'unknown';
    let n = this.clientRequests.get(version);
    if (n === undefined) {
      if (this.clientRequests.size >= MAX_CLIENT_VERSIONS) version = 'unknown';
      n = this.clientRequests.get(version) ?? { unary: 0, stream: 0 };
      this.clientRequests.set(version, n);
    }
    if (unary) n.unary++;
    else n.stream++;
  }

  /** go-grpc-prometheus exports every registered method's histogram from the start, at zero. */
  private handlingHistogram(type: GrpcType, service: string, method: string) {
    if (!this.handlingSeconds) return undefined;
    this.handlingSeconds.zero({ grpc_type: type, grpc_service: service, grpc_method: method });
    return this.handlingSeconds.labels(type, service, method);
  }

  private methodOf(path: string, requestStream: boolean, responseStream: boolean): MethodCounts {
    const known = this.byPath.get(path);
    if (known) return known;
    // grpc-js runs interceptors only for registered handlers, so the paths here are bounded.
    const slash = path.lastIndexOf('/');
    const service = path.slice(1, slash);
    const method = path.slice(slash + 1);
    const type: GrpcType = requestStream ? (responseStream ? 'bidi_stream' : 'client_stream') : responseStream ? 'server_stream' : 'unary';
    const handled = new Float64Array(GRPC_CODE_NAMES.length);
    const counts: MethodCounts = {
      type, service, method, started: 0, msgReceived: 0, msgSent: 0, handled,
      handling: this.handlingHistogram(type, service, method),
      listener: {
        onReceiveMetadata: (metadata, next) => {
          this.countClientRequest(type === 'unary', metadata);
          next(metadata);
        },
        onReceiveMessage: (message, next) => {
          counts.msgReceived++;
          next(message);
        },
      },
      responder: {
        start: (next) => next(counts.listener),
        sendMessage: (message, next) => {
          // A watch stream's write may carry several responses (see grpc/watch-wire.ts).
          counts.msgSent += messagesInWrite(message);
          next(message);
        },
        sendStatus: (status, next) => {
          handled[status.code < GRPC_CODE_NAMES.length ? status.code : UNKNOWN]!++;
          next(status);
        },
      },
    };
    this.byPath.set(path, counts);
    return counts;
  }
}
