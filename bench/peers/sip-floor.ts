/**
 * The engine's signalling floor, the peer `sip-cps` runs beside the engine: the embedded SIP
 * server (the same `startEmbeddedSipServer`, or the same worker thread as `sip.server = thread`)
 * and a minimal drachtio-srf app on it, connected as call control is, that answers every INVITE with a fixed SDP
 * (`srf.createUAS`) and lets drachtio-srf answer the BYE and end the dialog. No media, no store,
 * no call records: what a call costs the engine's signalling alone.
 * With `BENCH_FLOOR_KIND=stack` (and `BENCH_FLOOR_SSRC`, the caller's RTP SSRC) the INVITE handler
 * is `stack-floor.ts`'s instead: the same SIP server plus the mediasoup echo and the SQLite
 * record that no engine on this stack can skip, done with the least code.
 *
 * Run like the engine, settings from `AS_*` variables (`loadConfig`, the same defaults):
 *
 *   AS_SIP_SERVER=embedded|thread AS_SIP_HOST=127.0.0.1 AS_SIP_PORT=5060 AS_SIP_TRANSPORTS=udp \
 *   AS_SIP_DRACHTIO_PORT=9022 AS_LOG_LEVEL=info AS_LOG_PRETTY=false node dist/bench/peers/sip-floor.js > floor.log
 *
 * Logs: the engine's pino root at the configured level (production: JSON on stdout, which the
 * bench sends to a file). Ready when it answers OPTIONS with 200: the app's own answer, so the
 * SIP server is up and drachtio-srf connected (before that the server answers 503). SIGTERM stops it.
 */
import Srf from 'drachtio-srf';
import { loadConfig } from '../../config/load.js';
import { createLogger, type Logger } from '../../config/logger.js';
import type { Config } from '../../config/schema.js';
import { connectInProcess, type OpenControl } from '../../engine/calls/srf-in-process.js';
import { startEmbeddedSipServer } from '../../engine/sip/drachtio/embedded-server.js';
import { SipThread } from '../../engine/sip/sip-thread.js';
import { startStackFloor, type StackFloor } from './stack-floor.js';

/**
 * The answer to SIPp's G.711 A-law offer. The media address is 127.0.0.1:9 (the discard port,
 * where nothing listens here): SIPp's RTP is dropped by the kernel, nobody echoes it.
 */
const FIXED_SDP = ['v=0', 'o=floor 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 9 RTP/AVP 8', 'a=rtpmap:8 PCMA/8000', 'a=ptime:20', ''].join(
  '\r\n',
);

/** drachtio-srf methods and events missing from its bundled typings (as in engine/calls/call-control.ts). */
type SrfFull = Srf & {
  options(fn: (req: Srf.SrfRequest, res: Srf.SrfResponse) => void): void;
  on(event: 'connect', fn: (err: Error | null, hostport: string) => void): Srf;
  connect(opts: { host: string; port: number; secret: string }): void;
};

/**
 * The SIP server as the engine starts it for `sip.server`: where drachtio-srf connects (in
 * `embedded` mode over the in-process channel unless `sip.drachtioChannel` is `tcp`, as call
 * control does), and how to stop it.
 */
async function startServer(config: Config, log: Logger): Promise<{ control: { host: string; port: number; open?: OpenControl }; close(): Promise<void> }> {
  if (config.sip.server === 'thread') {
    const thread = await SipThread.start(config, log);
    const wildcard = config.sip.drachtioHost === '0.0.0.0' || config.sip.drachtioHost === '::';
    return { control: { host: wildcard ? '127.0.0.1' : config.sip.drachtioHost, port: thread.port }, close: () => thread.close() };
  }
  if (config.sip.server !== 'embedded') throw new Error(`sip-floor runs the embedded SIP server (sip.server embedded or thread), not ${config.sip.server}`);
  const server = await startEmbeddedSipServer(config.sip, log);
  if (config.sip.drachtioChannel === 'tcp') return server;
  return { control: { ...server.control, open: () => server.drachtio.control.openInProcess() }, close: () => server.close() };
}

/** The minimal app: INVITE -> 200 with the fixed SDP; OPTIONS -> 200. Resolves once connected. */
function connectApp(
  server: { host: string; port: number; open?: OpenControl },
  secret: string,
  log: Logger,
  srf: SrfFull,
  invite?: StackFloor['invite'],
): Promise<SrfFull> {
  srf.invite(
    invite ??
      ((req, res) => {
        // drachtio-srf answers the BYE (200) and destroys the dialog by itself.
        srf.createUAS(req, res, { localSdp: FIXED_SDP }).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'answer failed'));
      }),
  );
  srf.options((_req, res) => res.send(200));
  srf.on('error', (err: Error) => log.warn({ err: err.message }, 'drachtio connection error'));
  return new Promise((resolve, reject) => {
    srf.on('connect', (err, hostport) => {
      if (err) return reject(err);
      log.info({ hostport }, 'floor app connected to the SIP server');
      resolve(srf);
    });
    const { open, ...tcp } = server;
    if (open) connectInProcess(srf, { secret }, open);
    else srf.connect({ ...tcp, secret });
  });
}

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config.log);
  const kind = process.env.BENCH_FLOOR_KIND ?? 'signalling';
  if (kind !== 'signalling' && kind !== 'stack') throw new Error(`BENCH_FLOOR_KIND: signalling or stack, not ${kind}`);
  const srf = new Srf() as SrfFull;
  const ssrc = Number(process.env.BENCH_FLOOR_SSRC);
  if (kind === 'stack' && !(Number.isInteger(ssrc) && ssrc >= 0 && ssrc <= 0xffffffff)) throw new Error('BENCH_FLOOR_SSRC: the caller\'s RTP SSRC, an integer');
  const stack = kind === 'stack' ? await startStackFloor(config, ssrc, (req, res, o) => srf.createUAS(req, res, o), log) : null;
  const server = await startServer(config, log);
  await connectApp(server.control, config.sip.drachtioSecret, log, srf, stack?.invite);
  log.info({ server: config.sip.server, sipPort: config.sip.port, kind }, 'sip floor ready');
  let stopping = false;
  process.on('SIGTERM', () => {
    if (stopping) return;
    stopping = true;
    srf.disconnect();
    void server
      .close()
      .then(() => stack?.close())
      .finally(() => log.flush(() => process.exit(0)));
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`sip-floor: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
