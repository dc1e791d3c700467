/**
 * SIP messages counted by direction, method and response class, for the metrics endpoint. The
 * transport layer counts each message it parses (in) and each one it serializes (out; resent
 * bytes, i.e. retransmissions, are not counted again). Counting is one Map lookup and one array
 * increment: no allocation per message. A method outside the list is counted as `other`, so a
 * peer inventing methods cannot grow the series a scrape returns.
 */

/** The methods of RFC 3261 and of the extensions SIP servers commonly see. */
export const countedMethods = [
  'INVITE',
  'ACK',
  'BYE',
  'CANCEL',
  'OPTIONS',
  'REGISTER',
  'PRACK',
  'UPDATE',
  'INFO',
  'REFER',
  'MESSAGE',
  'SUBSCRIBE',
  'NOTIFY',
  'PUBLISH',
  'other',
] as const;
export type CountedMethod = (typeof countedMethods)[number];

/** Response classes (RFC 3261 §7.2: 1xx to 6xx). */
export const responseClasses = ['1xx', '2xx', '3xx', '4xx', '5xx', '6xx'] as const;
export type ResponseClass = (typeof responseClasses)[number];

const methodIndex = new Map<string, number>(countedMethods.map((m, i) => [m, i]));
const OTHER = countedMethods.length - 1;

/** A snapshot of the counts: plain numbers, safe to post across threads. */
export interface SipMessageCounts {
  requestsIn: Record<CountedMethod, number>;
  requestsOut: Record<CountedMethod, number>;
  responsesIn: Record<ResponseClass, number>;
  responsesOut: Record<ResponseClass, number>;
  /** Messages that could not be parsed or failed validation (answered 400/505 or dropped). */
  malformed: number;
}

export class MessageCounts {
  readonly #requestsIn = new Float64Array(countedMethods.length);
  readonly #requestsOut = new Float64Array(countedMethods.length);
  readonly #responsesIn = new Float64Array(responseClasses.length);
  readonly #responsesOut = new Float64Array(responseClasses.length);
  #malformed = 0;

  request(method: string, out: boolean): void {
    (out ? this.#requestsOut : this.#requestsIn)[methodIndex.get(method) ?? OTHER]! += 1;
  }

  response(status: number, out: boolean): void {
    const cls = Math.floor(status / 100) - 1;
    if (cls >= 0 && cls < responseClasses.length) (out ? this.#responsesOut : this.#responsesIn)[cls]! += 1;
  }

  malformed(): void {
    this.#malformed++;
  }

  snapshot(): SipMessageCounts {
    const byMethod = (a: Float64Array) => Object.fromEntries(countedMethods.map((m, i) => [m, a[i]!])) as Record<CountedMethod, number>;
    const byClass = (a: Float64Array) => Object.fromEntries(responseClasses.map((c, i) => [c, a[i]!])) as Record<ResponseClass, number>;
    return {
      requestsIn: byMethod(this.#requestsIn),
      requestsOut: byMethod(this.#requestsOut),
      responsesIn: byClass(this.#responsesIn),
      responsesOut: byClass(this.#responsesOut),
      malformed: this.#malformed,
    };
  }
}
