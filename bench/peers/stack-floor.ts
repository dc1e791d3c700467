/**
 * The work under a call that no engine on this stack can skip, done by the thinnest code that can
 * do it: the floor's `stack` kind (`sip-floor.ts` with `BENCH_FLOOR_KIND=stack`). On top of the
 * signalling floor (the embedded SIP server and drachtio-srf's `createUAS`), per call:
 * - media: one mediasoup PlainTransport (comedia, on a router per worker, as many workers as the
 *   engine's `media.workers`), whose port goes in the answer; while the 200 goes out, a Producer
 *   for the caller's SSRC and a Consumer of it on the same transport (the echo); then the two counters read at the BYE and the transport closed:
 *   6 channel requests, where the engine makes about 8 (it also connects to a latched source and
 *   polls stats while the call is up);
 * - store: the engine's own database file and pragmas (`openDatabase`: its schema, indexes and
 *   foreign keys; its off-thread checkpointer), written with raw prepared statements: the number
 *   looked up, then three transactions (the call inserted with its event, answered with its
 *   event, ended with its RTP counters and its event).
 *
 * No validation, no logs per call, no timers, no latch, no call object. The caller's SSRC is
 * not learnt from its first packet (the engine's latch) but given (`BENCH_FLOOR_SSRC`, read by the
 * benchmark from the pcap SIPp plays), so the answer needs nothing from the caller's media.
 * It is a floor, not a product: it trusts the benchmark's offers and numbers.
 */
import { randomUUID } from 'node:crypto';
import type Srf from 'drachtio-srf';
import type { types as ms } from 'mediasoup';
import type { Logger } from '../../config/logger.js';
import type { Config } from '../../config/schema.js';
import { Checkpointer } from '../../engine/store/checkpointer.js';
import { closeDatabase, openDatabase, type Db } from '../../engine/store/database.js';
import { createWorker } from '../../media/worker-channel.js';
import { routerMediaCodecs } from '../../media/rtp-parameters.js';

type Dialog = { on(event: 'destroy', fn: () => void): void };
type CreateUas = (req: Srf.SrfRequest, res: Srf.SrfResponse, opts: { localSdp: string }) => Promise<Dialog>;

const pcma = { mimeType: 'audio/PCMA', payloadType: 8, clockRate: 8000, channels: 1 };
const caps: ms.RtpCapabilities = { codecs: [{ kind: 'audio', mimeType: 'audio/PCMA', preferredPayloadType: 8, clockRate: 8000, channels: 1 }] };

const answerSdp = (ip: string, port: number) =>
  ['v=0', `o=floor 1 1 IN IP4 ${ip}`, 's=-', `c=IN IP4 ${ip}`, 't=0 0', `m=audio ${port} RTP/AVP 8`, 'a=rtpmap:8 PCMA/8000', 'a=ptime:20', 'a=sendrecv', ''].join('\r\n');

/** The rows every call refers to: a tenant and its number (`service`, as `seedEchoNumber`). */
function seed(db: Db): void {
  const at = new Date().toISOString();
  const tenantId = randomUUID();
  const numberId = randomUUID();
  db.prepare('INSERT INTO tenants (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)').run(tenantId, 'floor', at, at);
  db.prepare("INSERT INTO phone_numbers (id, tenant_id, mode, number, created_at, updated_at) VALUES (?, ?, 'live', 'service', ?, ?)").run(
    numberId,
    tenantId,
    at,
    at,
  );
}

function statements(db: Db) {
  const insertEvent = db.prepare("INSERT INTO events (type, tenant_id, mode, call_id, data, created_at) VALUES (?, ?, 'live', ?, ?, ?)");
  const findNumber = db.prepare<[string], { id: string; tenant_id: string }>('SELECT id, tenant_id FROM phone_numbers WHERE number = ?');
  const insertCall = db.prepare(
    `INSERT INTO calls (id, tenant_id, mode, direction, status, from_uri, to_uri, phone_number_id, sip_call_id, started_at, created_at, updated_at)
     VALUES (?, ?, 'live', 'inbound', 'ringing', ?, ?, ?, ?, ?, ?, ?)`,
  );
  const answer = db.prepare("UPDATE calls SET status = 'in_progress', answered_at = ?, updated_at = ? WHERE id = ?");
  const end = db.prepare(
    "UPDATE calls SET status = 'completed', ended_at = ?, duration_ms = ?, end_reason = 'caller_hangup', hangup_by = 'caller', rtp_stats = ?, updated_at = ? WHERE id = ?",
  );
  return {
    findNumber,
    started: db.transaction((id: string, tenantId: string, numberId: string, from: string, to: string, sipCallId: string, at: string) => {
      insertCall.run(id, tenantId, from, to, numberId, sipCallId, at, at, at);
      insertEvent.run('call.started', tenantId, id, JSON.stringify({ direction: 'inbound', from, to }), at);
    }),
    answered: db.transaction((id: string, tenantId: string, at: string) => {
      answer.run(at, at, id);
      insertEvent.run('call.answered', tenantId, id, '{}', at);
    }),
    ended: db.transaction((id: string, tenantId: string, durationMs: number, rtp: string, at: string) => {
      end.run(at, durationMs, rtp, at, id);
      insertEvent.run('call.ended', tenantId, id, JSON.stringify({ reason: 'caller_hangup', durationMs }), at);
    }),
  };
}

export interface StackFloor {
  /** The INVITE handler: routes, records, opens the echo, answers; records the end at the BYE. */
  invite(req: Srf.SrfRequest, res: Srf.SrfResponse): void;
  close(): Promise<void>;
}

export async function startStackFloor(config: Config, ssrc: number, createUas: CreateUas, log: Logger): Promise<StackFloor> {
  const db = openDatabase(config.database.path, log);
  const checkpointer = new Checkpointer(db, log);
  const sql = statements(db);
  seed(db);
  const workers: ms.Worker[] = [];
  const routers: ms.Router[] = [];
  for (let i = 0; i < config.media.workers; i++) {
    const worker = await createWorker(config.media.workerBin!, { logLevel: config.media.logLevel, rtcMinPort: config.rtp.minPort, rtcMaxPort: config.rtp.maxPort });
    workers.push(worker);
    routers.push(await worker.createRouter({ mediaCodecs: routerMediaCodecs }));
  }
  const listenIp = config.rtp.listenIp;
  let next = 0;

  async function call(req: Srf.SrfRequest, res: Srf.SrfResponse): Promise<void> {
    const number = sql.findNumber.get(req.calledNumber);
    if (!number) return void res.send(404);
    const id = randomUUID();
    const startedAt = Date.now();
    sql.started(id, number.tenant_id, number.id, req.getParsedHeader('from').uri, req.uri, req.get('Call-ID'), new Date(startedAt).toISOString());
    const router = routers[next++ % routers.length]!;
    const transport = await router.createPlainTransport({ listenIp, rtcpMux: false, comedia: true });
    // The answer needs only the transport's port: the echo is set up while the 200 goes out.
    const echo = (async () => {
      const producer = await transport.produce({ kind: 'audio', rtpParameters: { codecs: [pcma], encodings: [{ ssrc }] } });
      return { producer, consumer: await transport.consume({ producerId: producer.id, rtpCapabilities: caps }) };
    })();
    echo.catch(() => undefined); // reported by the end of the call, which awaits it
    let dialog: Dialog;
    try {
      dialog = await createUas(req, res, { localSdp: answerSdp(listenIp, transport.tuple.localPort) });
    } catch (err) {
      transport.close();
      throw err;
    }
    sql.answered(id, number.tenant_id, new Date().toISOString());
    dialog.on('destroy', () => {
      void (async () => {
        const [[inbound], [outbound]] = await echo
          .then(({ producer, consumer }) => Promise.all([producer.getStats(), consumer.getStats()]))
          .finally(() => transport.close());
        const rtp = JSON.stringify({ packetsReceived: inbound?.packetCount ?? 0, packetsSent: outbound?.packetCount ?? 0 });
        const now = Date.now();
        sql.ended(id, number.tenant_id, now - startedAt, rtp, new Date(now).toISOString());
      })().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'call end failed'));
    });
  }

  return {
    invite: (req, res) => void call(req, res).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'call failed')),
    async close() {
      for (const w of workers) w.close();
      await checkpointer.stop();
      closeDatabase(db);
    },
  };
}
