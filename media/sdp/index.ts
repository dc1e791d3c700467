/** SDP <-> media: parse and check, negotiate offers and answers, write ours. */
export { parseSdp, type ParsedSdp } from './parse.js';
export { answerDirection, negotiateAnswer, negotiateOffer, type OfferedAudio, type OfferOutcome } from './negotiate.js';
export { isNullAddress } from './remote-audio.js';
export { SdpOrigin, defaultPtime, writeAnswer, writeNegotiatedAnswer, writeOffer, type LocalAudio } from './write.js';
export * from './types.js';
