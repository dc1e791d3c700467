/**
 * The RFC 4475 (SIP torture test messages) corpus in test/engine/sip/vectors/rfc4475: one file per
 * message of section 3, laid out by section, bytes as the RFC's Appendix A archive has them (see
 * the README there for which files are checked against the archive's hashes).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const rfc4475Dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/engine/sip/vectors/rfc4475');

interface TortureMessage {
  /** The RFC's name for it (`wsinv`), also the file name. */
  name: string;
  /** The RFC section (`3.1.1.1`). */
  section: string;
  /** The folder: the RFC subsection it belongs to. */
  group: '3.1.1-valid' | '3.1.2-invalid' | '3.2-transaction' | '3.3-application' | '3.4-backward-compat';
}

const GROUPS: [TortureMessage['group'], string, string[]][] = [
  ['3.1.1-valid', '3.1.1.', ['wsinv', 'intmeth', 'esc01', 'escnull', 'esc02', 'lwsdisp', 'longreq', 'dblreq', 'semiuri', 'transports', 'mpart01', 'unreason', 'noreason']],
  ['3.1.2-invalid', '3.1.2.', ['badinv01', 'clerr', 'ncl', 'scalar02', 'scalarlg', 'quotbal', 'ltgtruri', 'lwsruri', 'lwsstart', 'trws', 'escruri', 'baddate', 'regbadct', 'badaspec', 'baddn', 'badvers', 'mismatch01', 'mismatch02', 'bigcode']],
  ['3.2-transaction', '3.2.', ['badbranch']],
  ['3.3-application', '3.3.', ['insuf', 'unkscm', 'novelsc', 'unksm2', 'bext01', 'invut', 'regaut01', 'multi01', 'mcl01', 'bcast', 'zeromf', 'cparam01', 'cparam02', 'regescrt', 'sdp01']],
  ['3.4-backward-compat', '3.4.', ['inv2543']],
];

/** Every message of RFC 4475 section 3, in the RFC's order (49). */
export const TORTURE: TortureMessage[] = GROUPS.flatMap(([group, prefix, names]) => names.map((name, i) => ({ name, group, section: `${prefix}${i + 1}` })));

/** The bytes of one message, by its RFC name. */
export function torture(name: string): Buffer {
  const m = TORTURE.find((x) => x.name === name);
  if (!m) throw new Error(`no RFC 4475 message ${name}`);
  return fs.readFileSync(path.join(rfc4475Dir, m.group, `${name}.dat`));
}
