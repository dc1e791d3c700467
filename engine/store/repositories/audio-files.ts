/**
 * Audio files' rows: what the API shows of each stored sound. The sound is a file beside the
 * database (`engine/audio-files.ts`), written before its row and removed after it.
 */
import type { Db } from '../database.js';
import type { Mode } from '../mode.js';
import type { Scope } from './scoped.js';
import { ScopedRepo, type RowMapping } from './scoped-repo.js';

export interface AudioFile {
  id: string;
  tenantId: string;
  mode: Mode;
  name: string;
  /** Of the stored 8 kHz mono audio. */
  durationMs: number;
  /** Size of the stored WAV file. */
  bytes: number;
  /** What was uploaded. */
  source: { encoding: 'pcm16' | 'alaw' | 'ulaw'; sampleRate: number; channels: number };
  createdAt: string;
  updatedAt: string;
}

interface Row {
  id: string;
  tenant_id: string;
  mode: Mode;
  name: string;
  duration_ms: number;
  bytes: number;
  source_encoding: string;
  source_rate: number;
  source_channels: number;
  created_at: string;
  updated_at: string;
}

const mapping: RowMapping<AudioFile, Row> = {
  columns: ['id', 'tenant_id', 'mode', 'name', 'duration_ms', 'bytes', 'source_encoding', 'source_rate', 'source_channels', 'created_at', 'updated_at'],
  toObject: (r) => ({
    id: r.id,
    tenantId: r.tenant_id,
    mode: r.mode,
    name: r.name,
    durationMs: r.duration_ms,
    bytes: r.bytes,
    source: { encoding: r.source_encoding as AudioFile['source']['encoding'], sampleRate: r.source_rate, channels: r.source_channels },
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  }),
  toRow: (a) => ({
    id: a.id,
    tenant_id: a.tenantId,
    mode: a.mode,
    name: a.name,
    duration_ms: a.durationMs,
    bytes: a.bytes,
    source_encoding: a.source.encoding,
    source_rate: a.source.sampleRate,
    source_channels: a.source.channels,
    created_at: a.createdAt,
    updated_at: a.updatedAt,
  }),
};

type AudioFileInput = Pick<AudioFile, 'name' | 'durationMs' | 'bytes' | 'source'>;

/** Names are unique per tenant and mode: create and update throw a UNIQUE violation on a taken one. */
export class AudioFilesRepo extends ScopedRepo<AudioFile, Row, AudioFileInput> {
  readonly #existing;

  constructor(db: Db) {
    super(db, 'audio_files', mapping);
    this.#existing = db.prepare<[string, Mode, string], { id: string }>(
      'SELECT id FROM audio_files WHERE tenant_id = ? AND mode = ? AND id IN (SELECT value FROM json_each(?))',
    );
  }

  /** Writes the row of a file already stored under `id`. */
  create(scope: Scope, input: AudioFileInput, id: string): AudioFile {
    return this.insert(scope, input, id);
  }

  /** Which of `ids` are audio files of the scope. */
  existing(scope: Scope, ids: readonly string[]): Set<string> {
    if (ids.length === 0) return new Set();
    return new Set(this.#existing.all(scope.tenantId, scope.mode, JSON.stringify(ids)).map((r) => r.id));
  }
}
