/**
 * Where stored audio files live: `<dir>/<id>.wav`, 8 kHz mono 16-bit PCM (converted once at
 * upload), the name from the id only, never from anything a client sent. A file is written
 * (to a temporary name, then renamed) before its row, and removed after its row: a crash in
 * between leaves a file without a row, which `sweep` deletes at start-up. Files never change once
 * written (there is no update), so the samples calls play are cached by id, up to a bound.
 */
import fsp from 'node:fs/promises';
import { IdFolder, tmpSuffix } from '../../lib/id-folder.js';
import type { Logger } from '../../config/logger.js';
import { importWav } from '../../media/audio/audio-import.js';
import { parseWav, writeWav } from '../../media/audio/wav.js';
import { newId } from '../store/ids.js';
import type { AudioFile } from '../store/repositories/audio-files.js';
import type { Scope } from '../store/repositories/scoped.js';
import type { Store } from '../store/store.js';

/** Samples kept in memory for calls: 32 MiB, about 35 minutes of 8 kHz audio. */
const cacheBytes = 32 * 1024 * 1024;

export class AudioFiles {
  /** Samples by id, oldest use first (a Map keeps insertion order; a hit re-inserts). */
  readonly #cache = new Map<string, Int16Array>();
  #cached = 0;
  /** Reads under way, by id. */
  readonly #loading = new Map<string, Promise<Int16Array | null>>();
  readonly #folder: IdFolder;

  constructor(
    readonly dir: string,
    private readonly store: Store,
    private readonly log: Logger,
    /** Longest sound accepted, ms. */
    readonly maxDurationMs: number,
  ) {
    this.#folder = new IdFolder(dir, '.wav', { file: 'audio file', idOf: 'an audio file' }, log);
  }

  /** The file of audio file `id`; throws on an id that is not one. */
  fileFor(id: string): string {
    return this.#folder.fileFor(id);
  }

  /**
   * Converts a WAV upload and stores it as `name` in `scope`. Throws `AudioImportError` for a
   * file it cannot use, and the store's UNIQUE violation for a taken name (the file is removed).
   */
  async save(scope: Scope, name: string, wav: Buffer): Promise<AudioFile> {
    const audio = importWav(wav, this.maxDurationMs);
    const id = newId();
    const file = this.fileFor(id);
    const bytes = writeWav({ sampleRate: 8000, channels: 1, samples: audio.pcm });
    await fsp.writeFile(file + tmpSuffix, bytes, { mode: 0o600 });
    await fsp.rename(file + tmpSuffix, file);
    try {
      return this.store.audioFiles.create(scope, { name, durationMs: audio.durationMs, bytes: bytes.length, source: audio.source }, id);
    } catch (err) {
      await this.#folder.unlink(file);
      throw err;
    }
  }

  /** Deletes the scope's audio file, row then file; false when it is not the scope's. */
  async delete(scope: Scope, id: string): Promise<boolean> {
    if (!this.store.audioFiles.delete(scope, id)) return false;
    await this.remove([id]);
    return true;
  }

  /** Opens a stored file for reading, with its size; null when there is none. The caller closes it. */
  open(id: string): Promise<{ file: fsp.FileHandle; size: number } | null> {
    return this.#folder.open(id);
  }


  /** Bytes of samples held in memory (bounded at 32 MiB). */
  get cachedBytes(): number {
    return this.#cached;
  }

  /** The samples of audio file `id` (8 kHz mono), from the cache or the disk; null when there is no such file. */
  async samples(id: string): Promise<Int16Array | null> {
    const hit = this.#cache.get(id);
    if (hit) {
      this.#cache.delete(id);
      this.#cache.set(id, hit);
      return hit;
    }
    // One read per file however many calls miss at once; a read that `remove` overtook is not cached.
    const loading = this.#loading.get(id);
    if (loading) return loading;
    const load = this.#load(id);
    this.#loading.set(id, load);
    let overtaken = false;
    let pcm: Int16Array | null;
    try {
      pcm = await load;
    } finally {
      overtaken = this.#loading.get(id) !== load;
      if (!overtaken) this.#loading.delete(id);
    }
    if (pcm === null || overtaken) return pcm;
    this.#forget(id);
    this.#cache.set(id, pcm);
    this.#cached += pcm.byteLength;
    for (const [old, s] of this.#cache) {
      if (this.#cached <= cacheBytes || old === id) break;
      this.#cache.delete(old);
      this.#cached -= s.byteLength;
    }
    return pcm;
  }

  /** Deletes the files of these audio files (their rows are gone); returns how many went. */
  async remove(ids: readonly string[]): Promise<number> {
    for (const id of ids) {
      this.#forget(id);
      this.#loading.delete(id);
    }
    return this.#folder.remove(ids);
  }

  async #load(id: string): Promise<Int16Array | null> {
    let buf: Buffer;
    try {
      buf = await fsp.readFile(this.fileFor(id));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    return parseWav(buf).samples;
  }

  /** Drops `id`'s samples from the cache, with their bytes. */
  #forget(id: string): void {
    const s = this.#cache.get(id);
    if (!s) return;
    this.#cache.delete(id);
    this.#cached -= s.byteLength;
  }

  /** Start-up housekeeping: files without a row (and half-written ones) are deleted. Returns how many. */
  async sweep(): Promise<number> {
    const removed = await this.#folder.sweep((id) => Boolean(this.store.audioFiles.getById(id)));
    if (removed) this.log.info({ removed }, 'audio files swept');
    return removed;
  }
}
