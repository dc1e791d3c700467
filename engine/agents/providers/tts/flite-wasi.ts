/**
 * The 13 WASI preview1 calls flite.wasm imports, served from memory: argv, a clock, one
 * preopened folder `/out` whose files live in a Map, and stdout/stderr captured as text.
 *
 * Why not `node:wasi`: measured on Node 20.20, the destructor of a used `WASI` object can abort
 * the whole process (`uv_mutex_destroy` in `uvwasi_fd_table_free`, SIGABRT): voice `slt` with
 * "Our opening hours are Monday to Friday, eight to six." does it after ~18 syntheses, on the
 * main thread or in a worker; other texts and voices later or never. A crash of the process
 * drops every call, so flite runs on this shim instead, which also needs no temporary files
 * and prints no ExperimentalWarning.
 */

/** WASI errno values (wasi_snapshot_preview1 `errno`). */
const errno = { success: 0, badf: 8, inval: 28, isdir: 31, noent: 44, notdir: 54, spipe: 70 } as const;
/** `filetype` values. */
const filetype = { characterDevice: 2, directory: 3, regularFile: 4 } as const;
/** `oflags` bits of path_open. */
const oflags = { creat: 1, directory: 2, excl: 4, trunc: 8 } as const;
const allRights = 2n ** 64n - 1n;
/** Captured stdout/stderr stop growing here: only an excerpt goes into an error message. */
const maxCapture = 4096;

/** Thrown by proc_exit to unwind out of the module. */
export class WasiExit {
  constructor(readonly code: number) {}
}

interface OpenFile {
  name: string;
  pos: number;
  append: boolean;
}

interface WasmMemory {
  buffer: ArrayBuffer;
}

export class MemoryWasi {
  /** Files written under /out, by name: storage (with room to grow) and size. */
  readonly #files = new Map<string, { buf: Uint8Array; size: number }>();
  #output = '';
  #memory: WasmMemory | null = null;
  readonly #args: Uint8Array[];
  readonly #dir: string;
  readonly #open = new Map<number, OpenFile>();
  #nextFd = 4;

  constructor(args: string[], dir = '/out') {
    this.#args = args.map((a) => Buffer.from(`${a}\0`, 'utf8'));
    this.#dir = dir;
  }

  /** The content of file `name` in /out, if the program wrote it. */
  file(name: string): Uint8Array | undefined {
    const f = this.#files.get(name);
    return f && f.buf.subarray(0, f.size);
  }

  /** What the program printed on stdout and stderr (the first 4 KB). */
  get output(): string {
    return this.#output;
  }

  /** Runs the module's `_start`; returns its exit code. */
  start(instance: { exports: Record<string, unknown> }): number {
    this.#memory = instance.exports.memory as WasmMemory;
    try {
      (instance.exports._start as () => void)();
      return 0;
    } catch (err) {
      if (err instanceof WasiExit) return err.code;
      throw err;
    }
  }

  #view(): DataView {
    if (!this.#memory) throw new Error('no memory');
    return new DataView(this.#memory.buffer);
  }

  #bytes(): Uint8Array {
    return new Uint8Array(this.#memory!.buffer);
  }

  /** The import object: `{ wasi_snapshot_preview1: {...} }`. */
  get imports(): Record<string, Record<string, (...a: never[]) => number>> {
    const fns = {
      args_sizes_get: (argcPtr: number, sizePtr: number): number => {
        const v = this.#view();
        v.setUint32(argcPtr, this.#args.length, true);
        v.setUint32(sizePtr, this.#args.reduce((n, a) => n + a.length, 0), true);
        return errno.success;
      },
      args_get: (argvPtr: number, bufPtr: number): number => {
        const v = this.#view();
        const mem = this.#bytes();
        let at = bufPtr;
        this.#args.forEach((a, i) => {
          v.setUint32(argvPtr + 4 * i, at, true);
          mem.set(a, at);
          at += a.length;
        });
        return errno.success;
      },
      clock_time_get: (_id: number, _precision: bigint, timePtr: number): number => {
        this.#view().setBigUint64(timePtr, process.hrtime.bigint(), true);
        return errno.success;
      },
      fd_prestat_get: (fd: number, ptr: number): number => {
        if (fd !== 3) return errno.badf;
        const v = this.#view();
        v.setUint8(ptr, 0);
        v.setUint32(ptr + 4, Buffer.byteLength(this.#dir), true);
        return errno.success;
      },
      fd_prestat_dir_name: (fd: number, ptr: number, len: number): number => {
        if (fd !== 3) return errno.badf;
        this.#bytes().set(Buffer.from(this.#dir).subarray(0, len), ptr);
        return errno.success;
      },
      fd_fdstat_get: (fd: number, ptr: number): number => {
        const type = fd <= 2 ? filetype.characterDevice : fd === 3 ? filetype.directory : this.#open.has(fd) ? filetype.regularFile : 0;
        if (!type) return errno.badf;
        const v = this.#view();
        v.setUint8(ptr, type);
        v.setUint16(ptr + 2, 0, true);
        v.setBigUint64(ptr + 8, allRights, true);
        v.setBigUint64(ptr + 16, allRights, true);
        return errno.success;
      },
      fd_fdstat_set_flags: (fd: number): number => {
        return fd <= 3 || this.#open.has(fd) ? errno.success : errno.badf;
      },
      path_open: (dirFd: number, _dirFlags: number, pathPtr: number, pathLen: number, oflag: number, _rb: bigint, _ri: bigint, fdFlags: number, fdPtr: number): number => {
        if (dirFd !== 3) return errno.badf;
        const name = Buffer.from(this.#bytes().subarray(pathPtr, pathPtr + pathLen)).toString('utf8');
        if (oflag & oflags.directory) return errno.notdir;
        if (!name || name === '.') return errno.isdir;
        const exists = this.#files.has(name);
        if (!exists && !(oflag & oflags.creat)) return errno.noent;
        if (exists && oflag & oflags.excl) return errno.inval;
        if (!exists || oflag & oflags.trunc) this.#files.set(name, { buf: new Uint8Array(65536), size: 0 });
        const fd = this.#nextFd++;
        this.#open.set(fd, { name, pos: 0, append: (fdFlags & 1) === 1 });
        this.#view().setUint32(fdPtr, fd, true);
        return errno.success;
      },
      fd_write: (fd: number, iovs: number, count: number, nPtr: number): number => {
        const v = this.#view();
        const mem = this.#bytes();
        let written = 0;
        for (let i = 0; i < count; i++) {
          const buf = v.getUint32(iovs + 8 * i, true);
          const len = v.getUint32(iovs + 8 * i + 4, true);
          const data = mem.subarray(buf, buf + len);
          if (fd === 1 || fd === 2) {
            if (this.#output.length < maxCapture) this.#output += Buffer.from(data).toString('utf8').slice(0, maxCapture - this.#output.length);
          } else {
            const f = this.#open.get(fd);
            if (!f) return errno.badf;
            const file = this.#files.get(f.name)!;
            const at = f.append ? file.size : f.pos;
            if (at + len > file.buf.length) {
              // Doubling, so a file written piecewise costs O(n).
              const grown = new Uint8Array(Math.max(at + len, file.buf.length * 2));
              grown.set(file.buf.subarray(0, file.size));
              file.buf = grown;
            }
            file.buf.set(data, at);
            file.size = Math.max(file.size, at + len);
            f.pos = at + len;
          }
          written += len;
        }
        v.setUint32(nPtr, written, true);
        return errno.success;
      },
      fd_read: (fd: number, iovs: number, count: number, nPtr: number): number => {
        const v = this.#view();
        const mem = this.#bytes();
        let read = 0;
        const f = this.#open.get(fd);
        if (!f && fd !== 0) return errno.badf;
        for (let i = 0; f && i < count; i++) {
          const buf = v.getUint32(iovs + 8 * i, true);
          const len = v.getUint32(iovs + 8 * i + 4, true);
          const file = this.#files.get(f.name)!;
          const part = file.buf.subarray(f.pos, Math.max(f.pos, Math.min(file.size, f.pos + len)));
          mem.set(part, buf);
          f.pos += part.length;
          read += part.length;
          if (part.length < len) break;
        }
        v.setUint32(nPtr, read, true);
        return errno.success;
      },
      fd_seek: (fd: number, offset: bigint, whence: number, resultPtr: number): number => {
        const f = this.#open.get(fd);
        if (!f) return fd <= 2 ? errno.spipe : errno.badf;
        const base = whence === 0 ? 0 : whence === 1 ? f.pos : whence === 2 ? this.#files.get(f.name)!.size : -1;
        const pos = base + Number(offset);
        if (base < 0 || pos < 0) return errno.inval;
        f.pos = pos;
        this.#view().setBigUint64(resultPtr, BigInt(pos), true);
        return errno.success;
      },
      fd_close: (fd: number): number => {
        if (fd <= 3) return errno.success;
        return this.#open.delete(fd) ? errno.success : errno.badf;
      },
      proc_exit: (code: number): number => {
        throw new WasiExit(code);
      },
    };
    return { wasi_snapshot_preview1: fns as unknown as Record<string, (...a: never[]) => number> };
  }
}
