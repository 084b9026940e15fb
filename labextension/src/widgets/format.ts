/**
 * Small pure formatting helpers shared by the views.
 */

/** Render a JSON value (a check value, a drift before/after) briefly. */
export function formatValue(value: unknown, maxLength = 60): string {
  let text: string;
  if (value === null || value === undefined) {
    text = '—';
  } else if (typeof value === 'number') {
    text = Number.isInteger(value) ? String(value) : formatNumber(value);
  } else if (typeof value === 'string') {
    text = value;
  } else if (typeof value === 'boolean') {
    text = value ? 'true' : 'false';
  } else {
    try {
      text = JSON.stringify(value);
    } catch {
      text = String(value);
    }
  }
  return text.length > maxLength ? `${text.slice(0, maxLength - 1)}…` : text;
}

/** Six significant digits, without trailing zeros. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) {
    return String(value);
  }
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-4 || abs >= 1e6)) {
    return value.toExponential(4);
  }
  return String(Number(value.toPrecision(6)));
}

/** "3 min ago" style time from a unix timestamp in seconds. */
export function formatAgo(seconds: number | null | undefined, now = Date.now()): string {
  if (seconds === null || seconds === undefined) {
    return '—';
  }
  const delta = Math.max(0, now / 1000 - seconds);
  if (delta < 60) {
    return `${Math.round(delta)} s ago`;
  }
  if (delta < 3600) {
    return `${Math.round(delta / 60)} min ago`;
  }
  if (delta < 86400) {
    return `${Math.round(delta / 3600)} h ago`;
  }
  return new Date(seconds * 1000).toLocaleDateString();
}

/** Map a drift severity name onto one of the four colour classes. */
export function severityClass(severity: string | null | undefined): string {
  const s = (severity ?? '').toLowerCase();
  if (['major', 'critical', 'high', 'error'].includes(s)) {
    return 'jp-repro-sev-high';
  }
  if (['minor', 'medium', 'warning', 'warn'].includes(s)) {
    return 'jp-repro-sev-medium';
  }
  if (['low', 'patch'].includes(s)) {
    return 'jp-repro-sev-low';
  }
  return 'jp-repro-sev-info';
}

/** Severity rank for sorting (high first). */
export function severityRank(severity: string | null | undefined): number {
  return {
    'jp-repro-sev-high': 0,
    'jp-repro-sev-medium': 1,
    'jp-repro-sev-low': 2,
    'jp-repro-sev-info': 3
  }[severityClass(severity)] as number;
}
