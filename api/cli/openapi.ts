/**
 * Writes the OpenAPI document the engine serves at /openapi.json to a file (default
 * docs/openapi.json), for review in diffs. `npm run openapi` after changing a route; a test
 * fails while the committed file and the code disagree.
 *
 * It starts the real app (on a throw-away database, loopback, port 0) and reads the document
 * over HTTP, so the file is exactly what clients get.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../config/load.js';
import { createLogger } from '../../config/logger.js';
import { startApp } from '../app.js';

/** The committed document, relative to the repository root. */
const OPENAPI_FILE = path.join('docs', 'openapi.json');

/** The document as committed: two-space JSON with a final newline. */
const formatOpenApi = (doc: unknown): string => `${JSON.stringify(doc, null, 2)}\n`;

async function main(): Promise<void> {
  const out = process.argv[2] ?? OPENAPI_FILE;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-openapi-'));
  const config = loadConfig(undefined, {
    env: 'test',
    http: { host: '127.0.0.1', port: 0 },
    sip: { host: '127.0.0.1', port: 0, drachtioPort: 0 },
    rtp: { listenIp: '127.0.0.1' },
    database: { path: path.join(dir, 'openapi.db') },
    auth: { jwtSecret: randomBytes(32).toString('base64url') },
    media: { workers: 1 },
    log: { level: 'warn', pretty: false },
  });
  const app = await startApp(config, createLogger(config.log, process.stderr));
  try {
    const res = await fetch(`http://127.0.0.1:${app.http.port}/openapi.json`);
    if (!res.ok) throw new Error(`GET /openapi.json answered ${res.status}`);
    fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
    fs.writeFileSync(out, formatOpenApi(await res.json()));
    process.stderr.write(`openapi: wrote ${out}\n`);
  } finally {
    await app.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`openapi: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
