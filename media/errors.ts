/**
 * The errors `media/` throws on purpose. Each has a stable `code`, so call control can map it to
 * a SIP answer without matching on messages:
 *
 * | class                 | code              | call control answers                          |
 * |-----------------------|-------------------|-----------------------------------------------|
 * | `SdpError`            | `sdp_malformed`   | 400 (unparsable body) or 488                  |
 * | `NoCommonCodecError`  | `no_common_codec` | 488 Not Acceptable Here (RFC 3261 §21.4.26)   |
 * | `MediaUnavailableError` | `media_unavailable` | 503 (no live worker, no free port)        |
 * | `LegClosedError`      | `leg_closed`      | the leg ended while the request was in flight |
 *
 * Anything else thrown from `media/` is a bug or a mediasoup failure.
 */

type MediaErrorCode = 'sdp_malformed' | 'no_common_codec' | 'media_unavailable' | 'leg_closed';

abstract class MediaError extends Error {
  abstract readonly code: MediaErrorCode;
}

/** The SDP could not be parsed, or says something impossible. `issues` names each problem. */
export class SdpError extends MediaError {
  readonly code = 'sdp_malformed';
  constructor(readonly issues: string[]) {
    super(`malformed SDP: ${issues.join('; ')}`);
    this.name = 'SdpError';
  }
}

/** The offer (or answer) has no audio stream with a codec we support. */
export class NoCommonCodecError extends MediaError {
  readonly code = 'no_common_codec';
  constructor(
    /** The audio formats that were offered, as `PT name/rate`, for the log line. */
    readonly offered: string[],
  ) {
    super(`no common audio codec (offered: ${offered.join(', ') || 'none'}; supported: PCMU/8000, PCMA/8000)`);
    this.name = 'NoCommonCodecError';
  }
}

/** No media worker is alive, or no RTP port is free. */
export class MediaUnavailableError extends MediaError {
  readonly code = 'media_unavailable';
  constructor(message: string) {
    super(message);
    this.name = 'MediaUnavailableError';
  }
}

/** The leg closed (hang-up, worker death) before the operation finished. */
export class LegClosedError extends MediaError {
  readonly code = 'leg_closed';
  constructor(readonly reason: string) {
    super(`media leg closed (${reason})`);
    this.name = 'LegClosedError';
  }
}
