/**
 * Test helper (used by the tests beside it, never by production code): a throwaway PKI made with
 * the `openssl` command, since node:crypto cannot issue X.509 certificates. Everything lives in a
 * temporary directory and is valid for one day.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** True when an `openssl` binary is on PATH. */
export function opensslAvailable(): boolean {
  const result = spawnSync('openssl', ['version'], { encoding: 'utf8' });
  return result.status === 0;
}

export interface TestPki {
  caPem: string;
  serverCertPem: string;
  serverKeyPem: string;
  /** Client certificate (our QWAC) issued by the CA. */
  clientCertPem: string;
  clientKeyPem: string;
  /** A self-signed client certificate the server does not trust. */
  strangerCertPem: string;
  strangerKeyPem: string;
  /** Removes the temporary directory. */
  dispose(): void;
}

function openssl(cwd: string, args: string[]): void {
  const result = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`openssl ${args[0]} failed: ${result.stderr}`);
}

/** Creates a key `<name>.key` and a self-signed certificate `<name>.pem` in `cwd`; returns both PEMs. */
export function selfSigned(cwd: string, name: string, subject: string, keyAlg: 'rsa' | 'ec' = 'rsa'): { certPem: string; keyPem: string } {
  const newkey = keyAlg === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  openssl(cwd, ['req', '-x509', ...newkey, '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '1', '-subj', subject]);
  return { certPem: readFileSync(join(cwd, `${name}.pem`), 'utf8'), keyPem: readFileSync(join(cwd, `${name}.key`), 'utf8') };
}

// P-256 keys: generated in milliseconds, where RSA would slow the suite down.
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];

/** Creates a CA, a server certificate for 127.0.0.1, a client certificate and a stranger. */
export function createTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'passerelle-pki-'));
  openssl(dir, [
    'req',
    '-x509',
    ...EC,
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '1',
    '-subj',
    '/CN=Passerelle Test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const issue = (name: string, subject: string, ext: string): void => {
    writeFileSync(join(dir, `${name}.ext`), ext);
    openssl(dir, ['req', ...EC, '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
    openssl(dir, [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '1',
      '-extfile',
      `${name}.ext`,
    ]);
  };
  issue('server', '/CN=127.0.0.1', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  issue('client', '/CN=Passerelle TPP QWAC/O=Passerelle Test', 'extendedKeyUsage=clientAuth\n');
  const stranger = selfSigned(dir, 'stranger', '/CN=Stranger', 'ec');
  const read = (file: string): string => readFileSync(join(dir, file), 'utf8');
  return {
    caPem: read('ca.pem'),
    serverCertPem: read('server.pem'),
    serverKeyPem: read('server.key'),
    clientCertPem: read('client.pem'),
    clientKeyPem: read('client.key'),
    strangerCertPem: stranger.certPem,
    strangerKeyPem: stranger.keyPem,
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A temporary directory for one test file. */
export function tempDir(): { dir: string; dispose(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'passerelle-certs-'));
  return { dir, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}
