/** A throw-away self-signed certificate for 127.0.0.1 / localhost, made with the openssl CLI. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from './config.js';

interface Pem {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
}

/** The certificate, or a string saying why it could not be made. */
export function selfSignedCert(): Pem | string {
  const dir = tempDir('as-sip-tls-');
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  try {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
      { stdio: 'ignore' },
    );
  } catch (e) {
    return `openssl could not make a certificate (${(e as Error).message})`;
  }
  const c = fs.readFileSync(cert);
  return { cert: c, key: fs.readFileSync(key), ca: c };
}
