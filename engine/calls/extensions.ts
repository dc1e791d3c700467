/**
 * SIP extensions (option tags, RFC 3261 §19.2) an inbound call honours. A UAS that is asked to
 * `Require` one it does not know "MUST" refuse with 420 Bad Extension listing them in
 * `Unsupported` (§8.2.2.3); answering anyway would claim support we do not have.
 */

/**
 * - `timer`: RFC 4028 session timers (session-timer.ts).
 * - `100rel`: RFC 3262. A UAS asked for it "MUST send any non-100 provisional response
 *   reliably" (§3); we send none then (the call rings without a 180), which no PRACK needs.
 */
export const SUPPORTED_OPTIONS = ['timer', '100rel'] as const;

/** The option tags of a `Require` value (comma-separated, case-insensitive), lowercased. */
export function optionTags(header: string | undefined): string[] {
  return (header ?? '')
    .split(',')
    .map((t) => t.trim().toLowerCase())
    .filter(Boolean);
}

/** The required option tags we do not support (empty: go ahead). */
export function unsupportedRequired(require: string | undefined): string[] {
  return optionTags(require).filter((t) => !(SUPPORTED_OPTIONS as readonly string[]).includes(t));
}
