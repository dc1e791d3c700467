/**
 * A browser page with one RTCPeerConnection on the fake microphone, served from 127.0.0.1 (a
 * secure context), for WebRTC leg tests. The page plays what it receives in an <audio> element
 * (so inbound-rtp audioLevel is measured) and reports its inbound-rtp and connection state.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ExecutionContext } from 'ava';
import type { Browser, Page } from 'playwright-core';

/**
 * The page's script (plain JS: the test build has no DOM types). `peer.*` are what the tests call
 * through `page.evaluate`.
 */
const script = `
const gathered = (pc) => new Promise((resolve) => {
  const done = () => pc.iceGatheringState === 'complete' && resolve(pc.localDescription.sdp);
  pc.addEventListener('icegatheringstatechange', done);
  done();
});
window.peer = {
  async open() {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const pc = new RTCPeerConnection();
    for (const track of stream.getTracks()) pc.addTrack(track, stream);
    pc.ontrack = (e) => {
      const audio = document.getElementById('out');
      audio.srcObject = new MediaStream([e.track]);
      audio.play().catch(() => undefined);
    };
    window.pc = pc;
  },
  async offer() {
    await pc.setLocalDescription(await pc.createOffer());
    return gathered(pc);
  },
  async takeAnswer(sdp) { await pc.setRemoteDescription({ type: 'answer', sdp }); },
  async answer(sdp) {
    await pc.setRemoteDescription({ type: 'offer', sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    return gathered(pc);
  },
  async inbound() {
    const report = await pc.getStats();
    let out = { packetsReceived: 0, bytesReceived: 0, audioLevel: 0, totalAudioEnergy: 0, codec: null, connectionState: pc.connectionState };
    report.forEach((s) => {
      if (s.type !== 'inbound-rtp' || s.kind !== 'audio') return;
      const codec = s.codecId && report.get(s.codecId) ? report.get(s.codecId).mimeType : null;
      out = { packetsReceived: s.packetsReceived || 0, bytesReceived: s.bytesReceived || 0, audioLevel: s.audioLevel || 0,
        totalAudioEnergy: s.totalAudioEnergy || 0, codec, connectionState: pc.connectionState };
    });
    return out;
  },
  async reoffer(direction) {
    pc.getTransceivers()[0].direction = direction;
    await pc.setLocalDescription(await pc.createOffer());
    return gathered(pc);
  },
  async restartOffer() {
    await pc.setLocalDescription(await pc.createOffer({ iceRestart: true }));
    return gathered(pc);
  },
  async rollback() { await pc.setLocalDescription({ type: 'rollback' }); },
  async mute() { await pc.getSenders()[0].replaceTrack(null); },
  close() { pc.close(); },
};
`;

const html = `<!doctype html><meta charset="utf-8"><title>webrtc leg</title><audio id="out" autoplay></audio><script>${script}</script>`;

/** An HTTP server on 127.0.0.1 serving the page; closed when the test ends. */
export async function pageServer(t: ExecutionContext): Promise<string> {
  const server = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(html));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

export interface InboundAudio {
  packetsReceived: number;
  bytesReceived: number;
  audioLevel: number;
  totalAudioEnergy: number;
  codec: string | null;
  connectionState: string;
}

const call = <T>(page: Page, method: string, arg?: string): Promise<T> =>
  page.evaluate(`window.peer.${method}(${arg === undefined ? '' : JSON.stringify(arg)})`) as Promise<T>;

/** Opens the page with a peer connection on the fake microphone (not yet offering). */
export async function openPeerPage(browser: Browser, url: string): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(url);
  await call(page, 'open');
  return page;
}

/** The page's offer, once ICE gathering is complete (all candidates in it). */
export const pageOffer = (page: Page) => call<string>(page, 'offer');
/** Applies our answer to the page's offer. */
export const pageTakesAnswer = (page: Page, sdp: string) => call<void>(page, 'takeAnswer', sdp);
/** Applies our offer and returns the page's answer (after gathering). */
export const pageAnswers = (page: Page, sdp: string) => call<string>(page, 'answer', sdp);
/** The page's inbound-rtp audio stats (zeros before any packet). */
export const pageInbound = (page: Page) => call<InboundAudio>(page, 'inbound');
/** `RTCPeerConnection.close()` in the page. */
export const pageHangsUp = (page: Page) => call<void>(page, 'close');
/** A re-offer from the page with its transceiver set to `direction` (hold: sendonly; resume: sendrecv). */
export const pageReoffers = (page: Page, direction: 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive') => call<string>(page, 'reoffer', direction);
/** An ICE-restart offer from the page (new ice-ufrag/ice-pwd). */
export const pageRestartsIce = (page: Page) => call<string>(page, 'restartOffer');
/** Drops the page's pending local offer (after we refused it). */
export const pageRollsBack = (page: Page) => call<void>(page, 'rollback');
/** Stops the page's microphone RTP (the sender's track removed; ICE consent checks go on). */
export const pageStopsSending = (page: Page) => call<void>(page, 'mute');
