/**
 * Audio files: sounds a workflow's `play` node plays to the caller. Uploaded once as a WAV file
 * (base64 in a JSON body, the one body encoding the API speaks), converted at upload to 8 kHz
 * mono 16-bit PCM, the format calls play, and stored beside the database. Accepted: 16-bit PCM
 * at 8, 16, 22.05, 24, 44.1 or 48 kHz, or G.711 A-law/μ-law at 8 kHz; mono, or stereo (mixed
 * down); up to `audioFiles.maxDurationMs` (10 minutes by default). A file that is none of these
 * is a `validation_error` on `wav` naming the problem. Files cannot be changed (upload another);
 * one that a workflow's current version plays cannot be deleted (`conflict`). Members and up
 * write, every role reads; scoped keys need `audio_files:read|write`.
 */
import { z } from 'zod';
import type { AudioFiles } from '../../engine/agents/audio-files.js';
import { AudioImportError } from '../../media/audio/audio-import.js';
import type { AudioFile } from '../../engine/store/repositories/audio-files.js';
import { isUniqueViolation } from '../../engine/store/repositories/scoped.js';
import type { Store } from '../../engine/store/store.js';
import { AppError } from '../http/errors.js';
import { listQuery, page, paged } from '../http/pagination.js';
import { Reply, route, type RouteDef } from '../http/route.js';
import { access, editors } from './access.js';
import { found, idParams, invalidBody, resourceShape, timestampsShape, withoutTenant } from './crud.js';

/**
 * The upload's body limit: 32 MiB of JSON carries a WAV of about 24 MB in base64 (10 minutes at
 * 16 kHz mono is 19.2 MB; 44.1 kHz mono fits about 4.5 minutes). The server-wide limit stays
 * small for every other route.
 */
export const maxUploadBodyBytes = 32 * 1024 * 1024;

/** Characters of base64 alone (no spaces, no line breaks), with its padding. */
const base64Text = /^[A-Za-z0-9+/]*={0,2}$/;

const audioFileSchema = z
  .object({
    ...resourceShape,
    name: z.string(),
    durationMs: z.number().int().meta({ description: 'Of the stored audio' }),
    sampleRate: z.literal(8000).meta({ description: 'Of the stored audio: always 8000 (mono, 16-bit PCM)' }),
    bytes: z.number().int().meta({ description: 'Size of the stored WAV file (GET /audio-files/{id}/content)' }),
    source: z
      .object({
        encoding: z.enum(['pcm16', 'alaw', 'ulaw']),
        sampleRate: z.number().int(),
        channels: z.number().int(),
      })
      .meta({ description: 'What was uploaded' }),
    ...timestampsShape,
  })
  .meta({ id: 'AudioFile' });

const createBody = z
  .strictObject({
    name: z.string().trim().min(1).max(200).meta({ description: 'Unique in the tenant (and mode)' }),
    wav: z.string().min(1).max(maxUploadBodyBytes).meta({ description: 'The WAV file, base64 (RFC 4648, no line breaks)' }),
  })
  .meta({ id: 'AudioFileCreate' });

const present = (a: AudioFile) => ({ ...withoutTenant(a), sampleRate: 8000 as const });

/** The base64 text as bytes; a `validation_error` on `wav` when it is not base64. */
function decodeBase64(text: string): Buffer {
  if (text.length % 4 !== 0 || !base64Text.test(text)) throw invalidBody([{ path: ['wav'], message: 'Must be base64 (A–Z a–z 0–9 + /, = padding, no line breaks)' }]);
  return Buffer.from(text, 'base64');
}

export function audioFileRoutes(store: Store, audioFiles: AudioFiles): RouteDef[] {
  const rights = access('audio_files', editors);
  const path = '/api/v1/audio-files';
  const tags = ['Audio files'];
  return [
    route({
      method: 'get',
      path,
      auth: rights.read,
      summary: 'List audio files',
      tags,
      operationId: 'listAudioFiles',
      query: listQuery('created_at', {}),
      response: page(audioFileSchema, 'AudioFilePage'),
      handler: ({ auth, query }) => {
        const r = store.audioFiles.list(auth, query, query.limit, query.offset);
        return paged({ items: r.items.map(present), total: r.total }, query);
      },
    }),
    route({
      method: 'get',
      path: `${path}/:id`,
      auth: rights.read,
      summary: 'Get an audio file: name, duration, size, what was uploaded',
      tags,
      operationId: 'getAudioFile',
      params: idParams,
      response: audioFileSchema,
      handler: ({ auth, params }) => present(found(store.audioFiles.get(auth, params.id), 'audio file')),
    }),
    route({
      method: 'get',
      path: `${path}/:id/content`,
      auth: rights.read,
      summary: 'The stored sound: a WAV file, 8 kHz mono 16-bit PCM',
      tags,
      operationId: 'getAudioFileContent',
      params: idParams,
      produces: 'audio/wav',
      handler: async ({ auth, params }) => {
        const a = found(store.audioFiles.get(auth, params.id), 'audio file');
        const file = found((await audioFiles.open(a.id)) ?? undefined, 'audio file');
        return Reply.file(file.file, 0, file.size, 'audio/wav', 200, { 'content-disposition': `attachment; filename="${a.id}.wav"` });
      },
    }),
    route({
      method: 'post',
      path,
      auth: rights.write,
      summary: 'Upload an audio file (a WAV file, base64)',
      description:
        'Accepted: 16-bit PCM WAV at 8, 16, 22.05, 24, 44.1 or 48 kHz, or G.711 (A-law, μ-law) WAV at 8 kHz; mono or ' +
        'stereo (mixed down). It is converted once to 8 kHz mono 16-bit PCM, the format calls play. A file that cannot ' +
        'be used, or longer than the limit (10 minutes by default), is a `validation_error` on `wav` naming the problem. ' +
        `The request body may be up to ${maxUploadBodyBytes} bytes.`,
      tags,
      operationId: 'createAudioFile',
      body: createBody,
      response: audioFileSchema,
      status: 201,
      idempotent: true,
      maxBodyBytes: maxUploadBodyBytes,
      errors: ['conflict'],
      handler: async ({ auth, body }) => {
        const wav = decodeBase64(body.wav);
        try {
          return present(await audioFiles.save(auth, body.name, wav));
        } catch (err) {
          if (err instanceof AudioImportError) throw invalidBody([{ path: ['wav'], message: err.message }]);
          if (isUniqueViolation(err)) throw new AppError('conflict', `An audio file named "${body.name}" already exists`);
          throw err;
        }
      },
    }),
    route({
      method: 'delete',
      path: `${path}/:id`,
      auth: rights.write,
      summary: 'Delete an audio file',
      tags,
      operationId: 'deleteAudioFile',
      params: idParams,
      status: 204,
      errors: ['conflict'],
      handler: async ({ auth, params }) => {
        found(store.audioFiles.get(auth, params.id), 'audio file');
        const users = store.workflows.usingAudioFile(auth, params.id);
        if (users.length) throw new AppError('conflict', `Audio file is used by workflow(s) ${users.join(', ')}`);
        found(await audioFiles.delete(auth, params.id), 'audio file');
        return undefined;
      },
    }),
  ];
}
