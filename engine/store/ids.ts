/** Ids and timestamps as the store writes them. */
import { randomUUID } from 'node:crypto';

export const newId = (): string => randomUUID();

/** ISO-8601 UTC with milliseconds: sorts as text, parses everywhere. */
export const nowIso = (): string => new Date().toISOString();

/** Parses a JSON column (the schema guarantees it is valid JSON). */
export const json = <T>(text: string | null): T => (text === null ? (null as T) : (JSON.parse(text) as T));
