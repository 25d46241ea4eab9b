/**
 * etcd 3.4.23 and raftkv side by side, each serving https with `server`'s certificate and
 * `--client-cert-auth` against `pki`'s CA: the set-up of the tests that compare how both treat a
 * client certificate's Common Name.
 */
import { freePort, removeDir, startEtcd, startRaftkv, type ServerProcess } from '@raftkv/testkit';
import type { Pki } from './pki.js';

export interface ClientCertAuthPair {
  /** https client URLs. */
  readonly urls: { etcd: string; raftkv: string };
  /** Stops both servers and removes their data dirs. */
  stop(): Promise<void>;
}

export async function startClientCertAuthPair(pki: Pki, server: { certFile: string; keyFile: string }): Promise<ClientCertAuthPair> {
  const flags = (url: string) => ['--listen-client-urls', url, '--advertise-client-urls', url,
    '--cert-file', server.certFile, '--key-file', server.keyFile, '--client-cert-auth', '--trusted-ca-file', pki.caFile, '--bcrypt-cost', '4'];
  const [ep, rp] = [await freePort(), await freePort()];
  const urls = { etcd: `https://127.0.0.1:${ep}`, raftkv: `https://127.0.0.1:${rp}` };
  const results = await Promise.allSettled([startEtcd({ port: ep, args: flags(urls.etcd) }), startRaftkv({ port: rp, args: flags(urls.raftkv) })]);
  const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const stop = async (): Promise<void> => {
    for (const s of started) {
      await s.stop();
      removeDir(s.dataDir);
    }
  };
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  return { urls, stop };
}
