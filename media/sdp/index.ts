/** SDP <-> media: parse and check, negotiate offers and answers, write ours. */

export { answerDirection, negotiateAnswer, negotiateOffer, type OfferOutcome } from './negotiate.js';
export { isNullAddress } from './remote-audio.js';
export { SdpOrigin, writeNegotiatedAnswer, writeOffer } from './write.js';
export * from './types.js';
