/**
 * Test certificates made by openssl in a temp dir: a CA and leaf certificates it signs (for
 * 127.0.0.1 and localhost, server and client auth), a CRL of revoked ones. Each run makes its own.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export class Pki {
  readonly dir: string;

  /** A CA named `caName`; `dir` given: a second CA beside another one. */
  constructor(readonly caName = 'raftkv-test-ca', dir?: string) {
    this.dir = dir ?? mkdtempSync(join(tmpdir(), 'raftkv-pki-'));
    writeFileSync(join(this.dir, `${caName}.index`), '');
    writeFileSync(join(this.dir, `${caName}.cnf`), [
      '[ ca ]', 'default_ca = this', '[ this ]',
      `database = ${join(this.dir, `${caName}.index`)}`, 'default_md = sha256', 'default_crl_days = 1',
    ].join('\n') + '\n');
    this.openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${caName}.key`, '-out', `${caName}.crt`, '-days', '1', '-subj', `/CN=${caName}`);
  }

  openssl(...args: string[]): void {
    execFileSync('openssl', args, { cwd: this.dir, stdio: 'ignore' });
  }

  /** The CA certificate's path. */
  get caFile(): string {
    return this.path(`${this.caName}.crt`);
  }

  /** Issues `name`.crt and `name`.key with subject CN `cn`; returns their paths. */
  issue(name: string, cn: string, san = 'IP:127.0.0.1,DNS:localhost'): { certFile: string; keyFile: string } {
    writeFileSync(join(this.dir, `${name}.ext`), `subjectAltName=${san}\nextendedKeyUsage=serverAuth,clientAuth\n`);
    this.openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    this.openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${this.caName}.crt`, '-CAkey', `${this.caName}.key`, '-CAcreateserial',
      '-out', `${name}.crt`, '-days', '1', '-extfile', `${name}.ext`);
    return { certFile: this.path(`${name}.crt`), keyFile: this.path(`${name}.key`) };
  }

  /** Revokes `name`.crt and writes the CA's CRL to `crl.pem`; returns its path. */
  revoke(name: string): string {
    this.openssl('ca', '-config', `${this.caName}.cnf`, '-keyfile', `${this.caName}.key`, '-cert', `${this.caName}.crt`, '-revoke', `${name}.crt`);
    return this.crl();
  }

  /** Writes the CA's current CRL to `crl.pem`; returns its path. */
  crl(): string {
    this.openssl('ca', '-config', `${this.caName}.cnf`, '-keyfile', `${this.caName}.key`, '-cert', `${this.caName}.crt`, '-gencrl', '-out', `${this.caName}-crl.pem`);
    return this.path(`${this.caName}-crl.pem`);
  }

  file(name: string): Buffer {
    return readFileSync(join(this.dir, name));
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
