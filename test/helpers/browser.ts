/**
 * A real browser for the tests: Debian's chromium driven by playwright-core, headless, with a
 * fake microphone (a WAV file, or chromium's own beep) and WebRTC allowed on loopback. Pages
 * must be served from 127.0.0.1 (a secure context: getUserMedia and RTCPeerConnection need one).
 * Nothing outside loopback resolves: a page that reaches for the internet fails loudly.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's chromium binary, or undefined when it is not installed. */
export const chromiumPath = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((bin) => fs.existsSync(bin) && spawnSync(bin, ['--version']).status === 0);

/** Why browser tests skip on this machine ('' when they run). */
export const browserSkipReason = chromiumPath ? '' : ' (skipped: Debian chromium is not installed at /usr/bin/chromium)';

export interface BrowserOptions {
  /** A WAV file the fake microphone plays in a loop; chromium's beep otherwise. */
  audioFile?: string;
}

/** Launches chromium (close it with `browser.close()`, in `t.teardown`). */
export async function launchBrowser(opts: BrowserOptions = {}): Promise<Browser> {
  if (!chromiumPath) throw new Error(`chromium is not installed${browserSkipReason}`);
  const args = [
    '--no-sandbox',
    '--disable-gpu',
    '--use-fake-device-for-media-stream',
    '--use-fake-ui-for-media-stream',
    '--allow-loopback-in-peer-connection',
    '--autoplay-policy=no-user-gesture-required',
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
  ];
  if (opts.audioFile) args.push(`--use-file-for-fake-audio-capture=${opts.audioFile}`);
  return chromium.launch({ executablePath: chromiumPath, args, headless: true });
}

/** Where test screenshots go (kept after the run as artifacts; ignored by git). */
export const screenshotDir = path.resolve('test-artifacts', 'screenshots');

/** Saves a full-page screenshot as `<name>.png` under `screenshotDir`; returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(screenshotDir, { recursive: true });
  const file = path.join(screenshotDir, `${name.replace(/[^a-z0-9_-]+/gi, '-')}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
