/**
 * A row's mode: `live` rows are the real installation; `test` rows are seen and written only by
 * test API keys (and test events reach only them), so an integration can be tried without
 * touching live data.
 */
export const modes = ['live', 'test'] as const;
export type Mode = (typeof modes)[number];
