/**
 * A trunk's number rewriting: strip a leading prefix, then add one. Carriers differ in what
 * they send and expect (`+44…`, `0044…`, `0…`); the rules make both sides E.164 inside.
 */
import { z } from 'zod';

const digits = z.string().regex(/^[0-9+*#]{1,16}$/, 'Must be 1–16 of 0-9 + * #');

const prefixRuleSchema = z
  .strictObject({
    strip: digits.optional().meta({ description: 'Removed when the number starts with it' }),
    add: digits.optional().meta({ description: 'Put in front (after strip)' }),
  })
  .meta({ id: 'PrefixRule' });
type PrefixRule = z.infer<typeof prefixRuleSchema>;

export const prefixRulesSchema = z
  .strictObject({
    inbound: prefixRuleSchema
      .optional()
      .meta({ description: 'Applied to the dialled number the carrier sends us, before it is looked up among the phone numbers (the caller number is kept as sent)' }),
    outbound: prefixRuleSchema
      .optional()
      .meta({ description: "Applied to the numbers we send the carrier: an outbound call's E.164 `to`, and the E.164 target of a blind transfer (Refer-To, and the engine's own INVITE when it bridges)" }),
  })
  .meta({ id: 'PrefixRules' });
export type PrefixRules = z.infer<typeof prefixRulesSchema>;

/** `applyPrefixRule('+4420…', { strip: '+', add: '00' })` → `004420…`. */
export function applyPrefixRule(number: string, rule: PrefixRule | undefined): string {
  if (!rule) return number;
  const stripped = rule.strip && number.startsWith(rule.strip) ? number.slice(rule.strip.length) : number;
  return (rule.add ?? '') + stripped;
}

/**
 * The forms a carrier may send one number in: as is, and for 8–15 digits with and without `+`
 * (E.164 numbers are at most 15 digits). The same forms `dialledCandidates` tries.
 */
export function numberForms(n: string): string[] {
  if (/^\d{8,15}$/.test(n)) return [n, `+${n}`];
  if (/^\+\d{8,15}$/.test(n)) return [n, n.slice(1)];
  return [n];
}
