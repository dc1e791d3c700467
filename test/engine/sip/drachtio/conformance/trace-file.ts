/**
 * Reads the recorded drachtio-server <-> drachtio-srf traces (traces/*.txt, copied verbatim from
 * shared/reference/drachtio-traces; README.md there describes the format): the FULL LOG's wire
 * frames, by connection and direction, as the exact frame bodies (CRLF restored).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The trace files live in the source tree, not in dist. */
export const TRACE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../../../test/engine/sip/drachtio/conformance/traces');

export type Direction = 'app->server' | 'server->app';

export interface TracedFrame {
  conn: number;
  dir: Direction;
  /** The frame body (after `<len>#`), CRLF line ends. */
  body: string;
}

/** The wire frames of one trace file, in time order. */
export function readTrace(file: string): TracedFrame[] {
  const text = fs.readFileSync(path.join(TRACE_DIR, file), 'utf8');
  const log = text.slice(text.indexOf('FULL LOG'));
  const frames: TracedFrame[] = [];
  // Each entry: "[t ms] conn=N app->server" then the frame, then a line "----".
  const entry = /^\[[\d.]+ ms\] conn=(\d+) (app->server|server->app)\n([\s\S]*?)\n----$/gm;
  for (const m of log.matchAll(entry)) {
    // The logger's own newline after the frame is the one before "----", outside the match.
    const raw = m[3]!.replace(/\n/g, '\r\n');
    const hash = raw.indexOf('#');
    const body = raw.slice(hash + 1);
    if (Buffer.byteLength(body) !== Number(raw.slice(0, hash))) throw new Error(`${file}: frame length mismatch in ${raw.slice(0, 60)}`);
    frames.push({ conn: Number(m[1]), dir: m[2] as Direction, body });
  }
  return frames;
}
