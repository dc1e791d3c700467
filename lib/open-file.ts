/** Opening a stored file (a recording, an audio file) to stream it out. */
import fsp from 'node:fs/promises';

/** Opens `file` for reading, with its size; null when it does not exist. The caller closes it. */
export async function openForReading(file: string): Promise<{ file: fsp.FileHandle; size: number } | null> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    return { file: handle, size: (await handle.stat()).size };
  } catch (e) {
    await handle.close();
    throw e;
  }
}
