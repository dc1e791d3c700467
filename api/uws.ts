/**
 * Loads uWebSockets.js and refuses to run on its slow JavaScript fallback. The npm build we use
 * (see DESIGN.md) falls back silently when its native binary does not load for this Node ABI.
 */
import { createRequire } from 'node:module';
import type * as UWS from 'uWebSockets.js';

const require = createRequire(import.meta.url);

export class UwsNotNativeError extends Error {}

/**
 * uWS, verified native. Throws `UwsNotNativeError` otherwise. `abi` is Node's module ABI
 * (`process.versions.modules`); tests pass another to see the refusal.
 */
export function loadUws(abi: string = process.versions.modules): typeof UWS {
  const file = `uws_${process.platform}_${process.arch}_${abi}.node`;
  let uws: typeof UWS;
  try {
    uws = require(`uWebSockets.js/binaries/${file}`) as typeof UWS;
  } catch (e) {
    throw new UwsNotNativeError(
      `uWebSockets.js native binary ${file} does not load on Node ${process.version} (${(e as Error).message.split('\n')[0]}); ` +
        'refusing to start on the slow JavaScript fallback',
    );
  }
  if (!/\[native code\]/.test(Function.prototype.toString.call(uws.App))) {
    throw new UwsNotNativeError('uWebSockets.js loaded a non-native App; refusing to start');
  }
  return uws;
}
