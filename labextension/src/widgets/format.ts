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

/** Length of the common prefix and of the common suffix of two strings (they never overlap). */
function commonEnds(a: string, b: string): [number, number] {
  const shorter = Math.min(a.length, b.length);
  let prefix = 0;
  while (prefix < shorter && a[prefix] === b[prefix]) {
    prefix++;
  }
  let suffix = 0;
  while (suffix < shorter - prefix && a[a.length - 1 - suffix] === b[b.length - 1 - suffix]) {
    suffix++;
  }
  return [prefix, suffix];
}

/** `text` cut to `max` characters around `[start, end)`, with `…` where it was cut. */
function windowAround(text: string, start: number, end: number, max: number): string {
  if (text.length <= max) {
    return text;
  }
  if (max < 3) {
    return text.slice(start, start + Math.max(0, max));
  }
  // Room for the text between two ellipses; the differing part centred in it.
  let room = max - 2;
  const span = end - start;
  let from = span >= room ? start : start - Math.floor((room - span) / 2);
  // An ellipsis in place of a single character hides it for nothing: show it.
  if (from <= 1) {
    from = 0;
    room = max - 1;
  } else if (from + room >= text.length - 1) {
    room = max - 1;
    from = text.length - room;
  }
  const to = Math.min(text.length, from + room);
  return `${from > 0 ? '…' : ''}${text.slice(from, to)}${to < text.length ? '…' : ''}`;
}

/**
 * Shorten two versions of a value (a path, a version string) to at most `max`
 * characters each, keeping the part where they differ in view: the common
 * start and end are cut first, marked with `…`. Values that fit are kept whole.
 *
 * @example
 * truncateAround('/usr/bin/python3', '/opt/venv/bin/python3', 10)
 * // ['/usr/bin/…', '/opt/venv…']
 *
 * @param before - the baseline's value
 * @param after - the run's value
 * @param max - the most characters either result may have (ellipses included)
 * @returns the shortened `[before, after]`
 */
export function truncateAround(before: string, after: string, max: number): [string, string] {
  const [prefix, suffix] = commonEnds(before, after);
  return [
    windowAround(before, prefix, before.length - suffix, max),
    windowAround(after, prefix, after.length - suffix, max)
  ];
}
