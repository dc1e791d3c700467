/**
 * Where call recordings live and how a call gets one. Each recording is one WAV file,
 * `<dir>/<call id>.wav` (the name comes from the call id only, never from anything a client
 * sent), and the call's row says what state it is in (`calls.recording`). Files are not rows: the
 * cascade that deletes a tenant's calls does not delete them, so the tenant's deletion calls
 * `remove`, and `sweep` removes any file whose call no longer exists (run at start-up: a crash
 * between the two, a recording that ended after its call's row went).
 */
import fsp from 'node:fs/promises';
import { IdFolder } from '../../lib/id-folder.js';
import type { Logger } from '../../config/logger.js';
import type { LegAudio } from '../../media/audio/leg-audio.js';
import { CallRecorder, type RecordingResult } from '../../media/audio/recorder.js';
import { writeWavHeader } from '../../media/audio/wav.js';
import type { Store } from '../store/store.js';
import type { CallRecording } from './call-record.js';
import type { Call } from './call.js';

/** The agent's call limit when it sets none (agent-config `timeouts.maxDurationMs`'s default). */
export const defaultMaxDurationMs = 3_600_000;

const headerBytes = 44;
/** Bytes per ms of 8 kHz 16-bit stereo. */
const bytesPerMs = 32;

export class Recordings {
  /** Recorders whose files are still being finalised: the engine waits for them before closing the database. */
  readonly #closing = new Set<Promise<void>>();
  /** Recorders of live calls, by call id: a call has one recording, however often `start` is asked. */
  readonly #live = new Map<string, CallRecorder>();
  readonly #folder: IdFolder;

  constructor(
    readonly dir: string,
    private readonly store: Store,
    private readonly log: Logger,
  ) {
    this.#folder = new IdFolder(dir, '.wav', { file: 'recording', idOf: 'a call' }, log);
  }

  /** The file of `callId`'s recording; throws on an id that is not a call id. */
  fileFor(callId: string): string {
    return this.#folder.fileFor(callId);
  }

  /**
   * Records the call from now on: the caller's frames (`audio` `frame`) on the left, the agent's
   * paced-out frames (`audio` `sent`) on the right, until the call ends (the file is finalised
   * then) or `maxDurationMs` passes. One line in the agent runtime when the agent has
   * `recording: true`.
   */
  start(call: Call, audio: LegAudio, maxDurationMs = defaultMaxDurationMs): CallRecorder {
    const existing = this.#live.get(call.id);
    if (existing) return existing;
    const log = call.log.child({ component: 'recording' });
    const recorder = CallRecorder.start({ file: this.fileFor(call.id), maxDurationMs, log });
    const startedAt = new Date().toISOString();
    this.#write(call.id, { status: 'recording', startedAt, durationMs: null, bytes: null, error: null }, log);
    const offFrame = audio.on('frame', (f) => recorder.caller(f.pcm, f.timestamp));
    const offSent = audio.on('sent', (pcm, timestamp) => recorder.agent(pcm, timestamp));
    this.#live.set(call.id, recorder);
    call.onDispose(() => {
      this.#live.delete(call.id);
      offFrame();
      offSent();
      const done = recorder
        .close()
        .then((r) => this.#finished(call.id, startedAt, r, log))
        .catch((err: unknown) => log.error({ err }, 'recording not finalised'))
        .finally(() => this.#closing.delete(done));
      this.#closing.add(done);
    });
    return recorder;
  }

  /** Opens `callId`'s recording file for reading, with its size; null when there is no file. The caller closes it. */
  open(callId: string): Promise<{ file: fsp.FileHandle; size: number } | null> {
    return this.#folder.open(callId);
  }


  /** Resolves when every recording of ended calls is finalised and written to its row. */
  async drain(): Promise<void> {
    while (this.#closing.size) await Promise.all([...this.#closing]);
  }

  /** Deletes the recordings of these calls (their rows are gone, or about to be); returns how many files went. */
  async remove(callIds: readonly string[]): Promise<number> {
    return this.#folder.remove(callIds);
  }

  /**
   * Start-up housekeeping: files whose call is gone are deleted, and rows still `recording` (the
   * previous run died mid-call) become `interrupted`, their header fixed up to what reached the
   * disk so the file plays whole. Returns what it did.
   */
  async sweep(): Promise<{ removed: number; recovered: number }> {
    const removed = await this.#folder.sweep((id) => Boolean(this.store.calls.getById(id)?.recording));
    let recovered = 0;
    for (const { id, recording } of this.store.calls.unfinishedRecordings()) {
      const bytes = await this.#fixHeader(this.fileFor(id));
      this.store.calls.setRecording(id, {
        ...recording,
        status: 'interrupted',
        durationMs: bytes === null ? 0 : Math.floor((bytes - headerBytes) / bytesPerMs),
        bytes,
        error: 'the engine stopped while recording',
      });
      recovered++;
    }
    if (removed || recovered) this.log.info({ removed, recovered }, 'recordings swept');
    return { removed, recovered };
  }

  #finished(callId: string, startedAt: string, r: RecordingResult, log: Logger): Promise<void> | void {
    const status = r.error ? 'failed' : r.stopReason === 'max_duration' ? 'stopped' : 'complete';
    const written = this.#write(callId, { status, startedAt, durationMs: r.durationMs, bytes: r.bytes, error: r.error?.message ?? null }, log);
    // The call's row is gone (its tenant was deleted during the call): so goes its file.
    if (!written) return this.#folder.unlink(this.fileFor(callId)).then(() => undefined);
  }

  #write(callId: string, recording: CallRecording, log: Logger): boolean {
    try {
      return this.store.calls.setRecording(callId, recording);
    } catch (err) {
      log.error({ err }, 'recording state not written');
      return true;
    }
  }

  /** Sets a streamed file's header sizes to its whole ticks on disk; its size, or null without a file. */
  async #fixHeader(file: string): Promise<number | null> {
    try {
      const fh = await fsp.open(file, 'r+');
      try {
        const { size } = await fh.stat();
        const data = Math.max(0, size - headerBytes);
        const whole = data - (data % 640);
        const header = Buffer.alloc(headerBytes);
        writeWavHeader(header, 8000, 2, whole);
        await fh.write(header, 0, headerBytes, 0);
        if (whole !== data) await fh.truncate(headerBytes + whole);
        return headerBytes + whole;
      } finally {
        await fh.close();
      }
    } catch (e) {
      this.log.warn({ file, err: e }, 'interrupted recording not repaired');
      return null;
    }
  }
}
