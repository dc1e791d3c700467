/**
 * The softphone: pick an agent or a phone number, press Call. `POST /api/v1/calls/web` grants a
 * SIP identity for this call; sip.js then calls the target over the engine's SIP WebSocket, with
 * the microphone. Shows the call state, the microphone's and the remote audio's levels (WebAudio
 * AnalyserNode), the RTP figures of the browser's own RTCPeerConnection, DTMF keys and Hang up.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, type Page } from '../api';
import { PhoneCall, type PhoneState } from '../softphone';
import type { Agent, PhoneNumber, WebCallGrant } from '../types';
import { ErrorBox, Field, Loading, PageTitle, useLoad } from '../ui';

const stateText: Record<PhoneState, string> = {
  idle: 'Ready',
  requesting: 'Asking the engine for a line…',
  connecting: 'Connecting…',
  ringing: 'Ringing…',
  in_call: 'In call',
  ending: 'Hanging up…',
  ended: 'Call ended',
};

const KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#'];

interface Stats {
  packetsReceived: number;
  bytesReceived: number;
  audioLevel: number;
  packetsSent: number;
}

export function Softphone() {
  const [data, loadError] = useLoad(async () => {
    const [agents, numbers] = await Promise.all([api<Page<Agent>>('GET', '/api/v1/agents?limit=100'), api<Page<PhoneNumber>>('GET', '/api/v1/phone-numbers?limit=100')]);
    return { agents: agents.items, numbers: numbers.items };
  });
  const [target, setTarget] = useState('');
  const [state, setState] = useState<PhoneState>('idle');
  const [reason, setReason] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [dtmfWay, setDtmfWay] = useState<string | null>(null);
  const [levels, setLevels] = useState({ mic: 0, remote: 0 });
  const [stats, setStats] = useState<Stats | null>(null);
  const call = useRef<PhoneCall | null>(null);
  const audio = useRef<HTMLAudioElement>(null);
  const stopMedia = useRef<() => void>(() => undefined);

  // Leaving the page (another route, or closing the tab) hangs up with a BYE first.
  useEffect(() => {
    const leave = () => call.current?.hangup();
    addEventListener('pagehide', leave);
    return () => (removeEventListener('pagehide', leave), leave(), stopMedia.current());
  }, []);
  useEffect(() => {
    if (data && !target) setTarget(data.agents[0] ? `agent:${data.agents[0].id}` : data.numbers[0] ? `number:${data.numbers[0].id}` : '');
  }, [data]);

  const start = async () => {
    if (!target) return;
    setError(null);
    setReason(null);
    setStats(null);
    setDtmfWay(null);
    const c = new PhoneCall({
      state: (s, r) => {
        setState(s);
        if (r) setReason(r);
        if (s === 'ended') stopMedia.current();
      },
      media: (local, remote, pc) => {
        if (audio.current) audio.current.srcObject = remote;
        stopMedia.current = watchMedia(local, remote, pc, setLevels, setStats);
      },
    });
    call.current = c;
    c.requesting();
    const [kind, id] = target.split(':') as ['agent' | 'number', string];
    let grant: WebCallGrant;
    try {
      grant = await api<WebCallGrant>('POST', '/api/v1/calls/web', kind === 'agent' ? { agentId: id } : { phoneNumberId: id });
    } catch (e) {
      setError(e);
      c.failed(e instanceof ApiError ? `the engine refused the call: ${e.body.code}` : 'the engine could not be reached');
      return;
    }
    await c.start(grant);
  };

  const busy = state !== 'idle' && state !== 'ended';
  if (loadError) return (<section><PageTitle>Softphone</PageTitle><ErrorBox error={loadError} /></section>);
  if (!data) return <Loading what="agents and numbers" />;
  return (
    <section class="softphone">
      <PageTitle>Softphone</PageTitle>
      <Field label="Call">
        {(id) => (
          <select id={id} name="target" value={target} disabled={busy} onChange={(e) => setTarget(e.currentTarget.value)}>
            {data.agents.length === 0 && data.numbers.length === 0 && <option value="">No agent or number yet</option>}
            {data.agents.length > 0 && (
              <optgroup label="Agents">
                {data.agents.map((a) => (
                  <option key={a.id} value={`agent:${a.id}`}>
                    {a.name}
                  </option>
                ))}
              </optgroup>
            )}
            {data.numbers.length > 0 && (
              <optgroup label="Phone numbers">
                {data.numbers.map((n) => (
                  <option key={n.id} value={`number:${n.id}`}>
                    {n.number}
                    {n.name ? ` (${n.name})` : ''}
                  </option>
                ))}
              </optgroup>
            )}
          </select>
        )}
      </Field>
      <div class="row">
        <button type="button" class="call" onClick={() => void start()} disabled={busy || !target}>
          Call
        </button>
        <button type="button" class="hangup" onClick={() => call.current?.hangup()} disabled={!busy}>
          Hang up
        </button>
      </div>
      <p role="status" aria-live="polite" class="phone-state" data-state={state}>
        {stateText[state]}
        {state === 'ended' && reason ? `: ${reason}` : ''}
      </p>
      <ErrorBox error={error} />
      <div class="meters">
        <label>
          Microphone <meter min={0} max={1} value={levels.mic} aria-label="Microphone level" data-level={levels.mic.toFixed(3)} />
        </label>
        <label>
          Remote audio <meter min={0} max={1} value={levels.remote} aria-label="Remote audio level" data-level={levels.remote.toFixed(3)} />
        </label>
      </div>
      <div class="keypad" role="group" aria-label="DTMF keys">
        {KEYS.map((k) => (
          <button key={k} type="button" disabled={state !== 'in_call'} aria-label={`Key ${k}`} onClick={() => void call.current?.dtmf(k).then((w) => setDtmfWay(w), setError)}>
            {k}
          </button>
        ))}
      </div>
      {dtmfWay && <p class="muted">Keys sent as {dtmfWay === 'rtp' ? 'RFC 4733 telephone-events' : 'SIP INFO'}.</p>}
      {stats && (
        <dl class="facts" aria-label="Audio received" data-testid="rtp-stats" data-packets={stats.packetsReceived} data-bytes={stats.bytesReceived} data-audio-level={stats.audioLevel}>
          <div>
            <dt>Packets received</dt>
            <dd>{stats.packetsReceived}</dd>
          </div>
          <div>
            <dt>Bytes received</dt>
            <dd>{stats.bytesReceived}</dd>
          </div>
          <div>
            <dt>Remote audio level</dt>
            <dd>{stats.audioLevel.toFixed(3)}</dd>
          </div>
          <div>
            <dt>Packets sent</dt>
            <dd>{stats.packetsSent}</dd>
          </div>
        </dl>
      )}
      <audio ref={audio} autoPlay aria-label="Remote audio" />
    </section>
  );
}

/** Level meters (AnalyserNode RMS, 10 times a second) and getStats figures (every second); returns the stopper. */
function watchMedia(
  local: MediaStream,
  remote: MediaStream,
  pc: RTCPeerConnection,
  setLevels: (l: { mic: number; remote: number }) => void,
  setStats: (s: Stats) => void,
): () => void {
  const ctx = new AudioContext();
  const analyser = (stream: MediaStream) => {
    const a = ctx.createAnalyser();
    a.fftSize = 1024;
    if (stream.getAudioTracks().length) ctx.createMediaStreamSource(stream).connect(a);
    return a;
  };
  const mic = analyser(local);
  const far = analyser(remote);
  const buf = new Float32Array(1024);
  const rms = (a: AnalyserNode) => {
    a.getFloatTimeDomainData(buf);
    let s = 0;
    for (const v of buf) s += v * v;
    return Math.min(1, Math.sqrt(s / buf.length) * 4);
  };
  const levels = setInterval(() => setLevels({ mic: rms(mic), remote: rms(far) }), 100);
  const stats = setInterval(() => {
    void pc.getStats().then((report) => {
      const out: Stats = { packetsReceived: 0, bytesReceived: 0, audioLevel: 0, packetsSent: 0 };
      report.forEach((r: { type: string; kind?: string; packetsReceived?: number; bytesReceived?: number; audioLevel?: number; packetsSent?: number }) => {
        if (r.type === 'inbound-rtp' && r.kind === 'audio') {
          out.packetsReceived += r.packetsReceived ?? 0;
          out.bytesReceived += r.bytesReceived ?? 0;
          out.audioLevel = Math.max(out.audioLevel, r.audioLevel ?? 0);
        }
        if (r.type === 'outbound-rtp' && r.kind === 'audio') out.packetsSent += r.packetsSent ?? 0;
      });
      setStats(out);
    });
  }, 1000);
  return () => {
    clearInterval(levels);
    clearInterval(stats);
    void ctx.close().catch(() => undefined);
    setLevels({ mic: 0, remote: 0 });
  };
}
