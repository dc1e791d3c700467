/** SDP <-> media: parse and check, negotiate offers and answers, write ours. */

export { answerDirection, negotiateAnswer, negotiateOffer, type OfferOutcome } from './negotiate.js';
export { isNullAddress } from './remote-audio.js';
export { SdpOrigin, writeNegotiatedAnswer, writeOffer } from './write.js';
export * from './types.js';
export { isWebRtcOffer, offersWebRtc, readWebRtc, webRtcProfiles, type SdpFingerprint, type SetupRole, type WebRtcRemote } from './webrtc.js';
export { writeWebRtcAnswer, writeWebRtcOffer, type LocalCandidate, type WebRtcLocal } from './write-webrtc.js';
