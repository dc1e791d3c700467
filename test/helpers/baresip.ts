/**
 * baresip (Debian) as a real SIP peer for tests: it dials a URI, sends a 440 Hz tone, and dumps
 * the audio it receives to a WAV file, so a test can check that audio came back.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from './config.js';

interface BaresipCall {
  /** Everything baresip printed. */
  output: string;
  exitCode: number | null;
  /** Decoded audio baresip received (16-bit PCM WAV), if a call was established. */
  receivedWav: string | undefined;
  /** Audio baresip sent. */
  sentWav: string | undefined;
}

/**
 * Dials `uri` and hangs up after `seconds` (baresip's -t). `codecs` limits the offer, e.g.
 * 'PCMU' or 'PCMA' ('PCMU,PCMA' by default).
 */
export async function baresipDial(uri: string, opts: { seconds?: number; codecs?: string } = {}): Promise<BaresipCall> {
  const dir = tempDir('as-baresip-');
  fs.writeFileSync(
    path.join(dir, 'config'),
    [
      'poll_method epoll',
      'sip_listen 127.0.0.1:0',
      `audio_player aufile,${path.join(dir, 'played.wav')}`,
      'audio_source ausine,440',
      'audio_alert aufile,/dev/null',
      // ausine only produces 48 kHz stereo; baresip resamples to the codec's 8 kHz mono.
      'ausrc_srate 48000',
      'ausrc_channels 2',
      'auplay_srate 48000',
      'module_path /usr/lib/baresip/modules',
      'module g711.so',
      'module ausine.so',
      'module aufile.so',
      'module sndfile.so',
      'module_app account.so',
      'module_app menu.so',
      'rtp_timeout 0',
      `snd_path ${dir}`,
    ].join('\n') + '\n',
  );
  fs.writeFileSync(path.join(dir, 'accounts'), `<sip:tester@127.0.0.1>;regint=0;audio_codecs=${opts.codecs ?? 'PCMU,PCMA'}\n`);
  const seconds = opts.seconds ?? 4;
  const child = spawn('baresip', ['-f', dir, '-e', `/dial ${uri}`, '-t', String(seconds)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), (seconds + 10) * 1000);
  const exitCode = await new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  clearTimeout(killer);
  const files = fs.readdirSync(dir);
  const find = (suffix: string) => {
    const f = files.find((n) => n.startsWith('dump-') && n.endsWith(suffix));
    return f && path.join(dir, f);
  };
  return { output, exitCode, receivedWav: find('-dec.wav'), sentWav: find('-enc.wav') };
}

/** RMS level (0..32767) of a 16-bit PCM WAV file's samples, skipping the first `skipMs`. */
export function wavRms(file: string, skipMs = 0): { rms: number; seconds: number } {
  const buf = fs.readFileSync(file);
  // Find the "data" chunk rather than assuming a 44-byte header.
  let off = 12;
  let rate = 8000;
  let channels = 1;
  while (off + 8 <= buf.length) {
    const id = buf.toString('ascii', off, off + 4);
    const size = buf.readUInt32LE(off + 4);
    if (id === 'fmt ') {
      channels = buf.readUInt16LE(off + 10);
      rate = buf.readUInt32LE(off + 12);
    }
    if (id === 'data') {
      const start = off + 8 + Math.floor((skipMs / 1000) * rate) * 2 * channels;
      const end = Math.min(buf.length, off + 8 + size);
      let sum = 0;
      let n = 0;
      for (let i = start; i + 1 < end; i += 2) {
        const s = buf.readInt16LE(i);
        sum += s * s;
        n++;
      }
      return { rms: n ? Math.sqrt(sum / n) : 0, seconds: n / rate / channels };
    }
    off += 8 + size + (size % 2);
  }
  return { rms: 0, seconds: 0 };
}
