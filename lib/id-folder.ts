/**
 * A folder of files named after store ids (UUIDs): `<dir>/<id><suffix>`, and `<id><suffix>.tmp`
 * while one is being written. The name comes from the id only, never from anything a client
 * sent; anything that is not an id never names a file. Recordings and stored audio files live in
 * one each; what a file means stays with its owner, which decides in `sweep` which to keep.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../config/logger.js';
import { openForReading } from './open-file.js';

/** Ids are UUIDs (engine/store/ids.ts). */
const idPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The suffix of a file being written, renamed into place when whole. */
export const tmpSuffix = '.tmp';

export class IdFolder {
  constructor(
    readonly dir: string,
    readonly suffix: string,
    /** What a file is, and whose id names it, for messages and logs: `recording`, `a call`. */
    readonly names: { file: string; idOf: string },
    private readonly log: Logger,
  ) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  /** The file of `id`; throws on an id that is not one. */
  fileFor(id: string): string {
    if (!idPattern.test(id)) throw new Error(`not ${this.names.idOf} id: ${JSON.stringify(id)}`);
    return path.join(this.dir, `${id.toLowerCase()}${this.suffix}`);
  }

  /** Opens `id`'s file for reading, with its size; null when there is none. The caller closes it. */
  open(id: string): Promise<{ file: fsp.FileHandle; size: number } | null> {
    return openForReading(this.fileFor(id));
  }

  /** Deletes the files of these ids; returns how many there were. */
  async remove(ids: readonly string[]): Promise<number> {
    let n = 0;
    for (const id of ids) if (await this.unlink(this.fileFor(id))) n++;
    return n;
  }

  /**
   * Deletes every file of the folder `keep` does not want: whole files whose id it refuses, and
   * every half-written (`.tmp`) file. Names that are not an id's are left alone. Returns how
   * many went.
   */
  async sweep(keep: (id: string) => boolean): Promise<number> {
    let removed = 0;
    for (const name of await fsp.readdir(this.dir)) {
      const whole = name.endsWith(this.suffix);
      const partial = name.endsWith(this.suffix + tmpSuffix);
      const id = whole ? name.slice(0, -this.suffix.length) : partial ? name.slice(0, -(this.suffix + tmpSuffix).length) : '';
      if (!idPattern.test(id) || (whole && keep(id))) continue;
      if (await this.unlink(path.join(this.dir, name))) removed++;
    }
    return removed;
  }

  /** Deletes `file`; false when it was not there (or could not be deleted: logged). */
  async unlink(file: string): Promise<boolean> {
    try {
      await fsp.unlink(file);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ file, err: e }, `${this.names.file} not deleted`);
      return false;
    }
  }
}
