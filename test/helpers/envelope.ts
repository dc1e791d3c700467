/** Assertions on the reference's error envelope, whole: code, message and details, nothing else. */
import type { ExecutionContext } from 'ava';
import { errorTable, type ErrorCode } from '../../api/http/errors.js';
import type { JsonResponse } from './http.js';

interface Detail {
  field: string;
  message: string;
}

/** The exact envelope. */
const envelope = (code: ErrorCode, message: string, details: Detail[] = []) => ({
  error: { code, message, details },
});

/**
 * Asserts status, JSON content type and the whole body. `message` may be a RegExp when the
 * message holds a value the test does not know (an id, a number of seconds).
 */
export function assertError(
  t: ExecutionContext,
  res: JsonResponse,
  code: ErrorCode,
  message: string | RegExp,
  details: Detail[] = [],
): void {
  const label = `${code}: ${JSON.stringify(res.body)}`;
  t.is(res.status, errorTable[code].status, label);
  t.is(res.headers.get('content-type'), 'application/json; charset=utf-8', label);
  if (typeof message === 'string') {
    t.deepEqual(res.body, envelope(code, message, details), label);
    return;
  }
  const body = res.body as { error: { message: string } };
  t.regex(body?.error?.message ?? '', message, label);
  t.deepEqual(res.body, envelope(code, body.error.message, details), label);
}
