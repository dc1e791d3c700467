/** Small shared pieces: error banners, labelled fields, loading state, formatting. */
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError } from './api';

export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  const text =
    error instanceof ApiError
      ? `${error.body.message} (${error.body.code}${error.status ? `, HTTP ${error.status}` : ''})`
      : error instanceof Error
        ? error.message
        : String(error);
  return (
    <p class="error" role="alert">
      {text}
    </p>
  );
}

let fieldIds = 0;

/** A label, its control (rendered by `children` with the id given) and the field's error. */
export function Field(props: { label: string; error?: string | undefined; hint?: string; children: (id: string, describedBy: string | undefined) => ComponentChildren }) {
  const [id] = useState(() => `f${++fieldIds}`);
  const errId = props.error ? `${id}-err` : undefined;
  const hintId = props.hint ? `${id}-hint` : undefined;
  const describedBy = [errId, hintId].filter(Boolean).join(' ') || undefined;
  return (
    <div class={props.error ? 'field invalid' : 'field'}>
      <label for={id}>{props.label}</label>
      {props.children(id, describedBy)}
      {props.hint && (
        <small id={hintId} class="hint">
          {props.hint}
        </small>
      )}
      {props.error && (
        <small id={errId} class="field-error">
          {props.error}
        </small>
      )}
    </div>
  );
}

/** Loads once (and again when `deps` change): `[value, error, reload]`. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[] = []): [T | undefined, unknown, () => void] {
  const [value, setValue] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (v) => live && (setValue(v), setError(null)),
      (e: unknown) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [...deps, n]);
  return [value, error, () => setN((x) => x + 1)];
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="muted" role="status">
      Loading {what}…
    </p>
  );
}

export const time = (iso: string | null | undefined): string => (iso ? new Date(iso).toLocaleString() : '—');

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

export function PageTitle({ children }: { children: ComponentChildren }) {
  useEffect(() => {
    document.title = `${typeof children === 'string' ? children : 'Dashboard'} · Agent Studio`;
  }, [children]);
  return <h1 tabIndex={-1}>{children}</h1>;
}

/** One column of an `EditableTable`: its heading and what a row shows in it. */
export interface Column<T> {
  head: string;
  cell: (row: T) => ComponentChildren;
}

/**
 * A list whose rows open their editor: the first column's content is the button that does it
 * (first in the row, so it is on screen at phone width), labelled `Edit <label>` for screen
 * readers. `empty` is shown instead of a table with no rows.
 */
export function EditableTable<T extends { id: string }>(p: { caption: string; empty: string; rows: T[]; columns: Column<T>[]; label: (row: T) => string; edit: (row: T) => void }) {
  if (p.rows.length === 0) return <p>{p.empty}</p>;
  return (
    <div class="table-wrap">
      <table>
        <caption class="sr-only">{p.caption}</caption>
        <thead>
          <tr>
            {p.columns.map((c) => (
              <th scope="col" key={c.head}>
                {c.head}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {p.rows.map((row) => (
            <tr key={row.id}>
              {p.columns.map((c, i) => (
                <td key={c.head}>
                  {i === 0 ? (
                    <button type="button" class="link" onClick={() => p.edit(row)} aria-label={`Edit ${p.label(row)}`}>
                      {c.cell(row)}
                    </button>
                  ) : (
                    c.cell(row)
                  )}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
