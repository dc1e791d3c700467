/** Bar charts as inline SVG (no chart library): each is an image with a title and a text description. */

export interface Bar {
  label: string;
  value: number;
}

const fmt = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(1));

/** Vertical bars, one per label (days). */
export function ColumnChart({ title, bars, unit = '' }: { title: string; bars: Bar[]; unit?: string }) {
  const w = 640;
  const h = 220;
  const pad = { top: 16, right: 8, bottom: 40, left: 36 };
  const max = Math.max(1, ...bars.map((b) => b.value));
  const bw = (w - pad.left - pad.right) / Math.max(1, bars.length);
  const y = (v: number) => pad.top + (h - pad.top - pad.bottom) * (1 - v / max);
  const every = Math.ceil(bars.length / 8);
  const desc = bars.map((b) => `${b.label}: ${fmt(b.value)}${unit}`).join('; ');
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${w} ${h}`} role="img" aria-labelledby={`${slug(title)}-t ${slug(title)}-d`} preserveAspectRatio="xMidYMid meet">
        <title id={`${slug(title)}-t`}>{title}</title>
        <desc id={`${slug(title)}-d`}>{desc || 'No data'}</desc>
        <line x1={pad.left} x2={w - pad.right} y1={y(0)} y2={y(0)} class="axis" />
        <text x={pad.left - 4} y={y(max) + 4} class="tick" text-anchor="end">
          {fmt(max)}
        </text>
        <text x={pad.left - 4} y={y(0)} class="tick" text-anchor="end">
          0
        </text>
        {bars.map((b, i) => (
          <g key={b.label}>
            <rect class="bar" x={pad.left + i * bw + bw * 0.1} width={bw * 0.8} y={y(b.value)} height={Math.max(0, y(0) - y(b.value))}>
              <title>{`${b.label}: ${fmt(b.value)}${unit}`}</title>
            </rect>
            {i % every === 0 && (
              <text x={pad.left + i * bw + bw / 2} y={h - pad.bottom + 14} class="tick" text-anchor="middle">
                {b.label.length > 5 ? b.label.slice(5) : b.label}
              </text>
            )}
          </g>
        ))}
      </svg>
      <figcaption>{title}</figcaption>
    </figure>
  );
}

/** Horizontal bars with their labels (end reasons, error kinds, duration figures). */
export function BarChart({ title, bars, unit = '' }: { title: string; bars: Bar[]; unit?: string }) {
  const row = 26;
  const w = 640;
  const labelW = 200;
  const h = Math.max(1, bars.length) * row + 8;
  const max = Math.max(1, ...bars.map((b) => b.value));
  const scale = (v: number) => ((w - labelW - 60) * v) / max;
  const desc = bars.map((b) => `${b.label}: ${fmt(b.value)}${unit}`).join('; ');
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${w} ${h}`} role="img" aria-labelledby={`${slug(title)}-t ${slug(title)}-d`}>
        <title id={`${slug(title)}-t`}>{title}</title>
        <desc id={`${slug(title)}-d`}>{desc || 'No data'}</desc>
        {bars.length === 0 && (
          <text x={8} y={20} class="tick">
            No data
          </text>
        )}
        {bars.map((b, i) => (
          <g key={b.label}>
            <text x={labelW - 6} y={i * row + 18} class="tick" text-anchor="end">
              {b.label.length > 26 ? `${b.label.slice(0, 25)}…` : b.label}
            </text>
            <rect class="bar" x={labelW} y={i * row + 5} height={row - 8} width={Math.max(1, scale(b.value))} />
            <text x={labelW + scale(b.value) + 6} y={i * row + 18} class="tick">
              {fmt(b.value)}
              {unit}
            </text>
          </g>
        ))}
      </svg>
      <figcaption>{title}</figcaption>
    </figure>
  );
}

const slug = (s: string) => `c-${s.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
