/** Every migration, in order. Append; never edit one that has shipped. */
import type { Migration } from '../migrate.js';
import { m0001Foundation } from './0001-foundation.js';
import { m0002CoreSchema } from './0002-core-schema.js';

export const migrations: readonly Migration[] = [m0001Foundation, m0002CoreSchema];
