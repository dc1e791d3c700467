/** Types for `@echogarden/fvad-wasm` (libfvad, the WebRTC VAD, built with Emscripten): what `vad.ts` uses. */
declare module '@echogarden/fvad-wasm' {
  export interface FvadModule {
    /** A new detector (a pointer into the module's heap), 0 when out of memory. */
    _fvad_new(): number;
    _fvad_free(inst: number): void;
    _fvad_reset(inst: number): void;
    /** 0 on success, -1 for a mode outside 0..3. */
    _fvad_set_mode(inst: number, mode: number): number;
    /** 0 on success, -1 for a rate other than 8000, 16000, 32000 or 48000. */
    _fvad_set_sample_rate(inst: number, rate: number): number;
    /** 1 voiced, 0 not, -1 for a length that is not 10, 20 or 30 ms. `frame` is a byte pointer. */
    _fvad_process(inst: number, frame: number, length: number): number;
    _malloc(bytes: number): number;
    _free(ptr: number): void;
    /** The heap as 16-bit samples; replaced when the heap grows, so read it at each use. */
    HEAP16: Int16Array;
  }
  const factory: (moduleArg?: object) => Promise<FvadModule>;
  export default factory;
}
