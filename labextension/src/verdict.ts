/**
 * What the sidebar says first, and the counts in its section headers: pure
 * functions of the model's state (no DOM, no JupyterLab), so jest tests them.
 */
import { TranslationBundle } from '@jupyterlab/translation';

import {
  ICellDiff,
  ICellsReply,
  IChecklistItem,
  IChecksReply,
  IDriftItem,
  IDriftReply,
  IJob,
  IStatusReply
} from './tokens';

/** The verdict's tone: its colour, and what a test or a person reads first. */
export type VerdictTone = 'ok' | 'diverged' | 'baseline' | 'none' | 'loading';

/** The verdict block at the top of the sidebar. */
export interface IVerdict {
  tone: VerdictTone;
  /** A few words: `All cells match the baseline`, `Diverges at cell 5`. */
  headline: string;
  /**
   * One sentence saying what was compared with what, e.g. `Latest run 3 vs
   * baseline run 1: all 7 cells match, 3/3 checks pass.`
   */
  sentence: string;
  /** The first cell that differs, when one does. */
  first: ICellDiff | null;
}

/** How many checks pass of how many, and how many are new (the baseline has none). */
export function checkCounts(checks: IChecksReply | null): {
  pass: number;
  fail: number;
  fresh: number;
  missing: number;
  total: number;
} {
  const counts = checks?.report?.counts ?? {};
  const total = checks?.report?.items.length ?? 0;
  return {
    pass: counts.pass ?? 0,
    fail: counts.fail ?? 0,
    fresh: counts.new ?? 0,
    missing: counts.missing ?? 0,
    total
  };
}

/** `3/3 checks pass`, `1 of 3 checks fails`, `3 checks recorded` or `no checks`. */
function checksClause(trans: TranslationBundle, checks: IChecksReply | null): string {
  if (checks === null) {
    return '';
  }
  const c = checkCounts(checks);
  if (c.total === 0) {
    return trans.__('no checks');
  }
  if (c.fresh === c.total) {
    return trans._n('%1 check recorded', '%1 checks recorded', c.total);
  }
  if (c.fail > 0) {
    return trans._n('%1 of %2 check fails', '%1 of %2 checks fail', c.fail, c.total);
  }
  return trans.__('%1/%2 checks pass', c.pass, c.total);
}

/** `7 same`, `1 different · 6 same`: the cells per state, differing states first. */
export function cellCountsText(trans: TranslationBundle, cells: ICellsReply | null): string {
  if (cells === null) {
    return '';
  }
  const order: [keyof ICellsReply['counts'], string][] = [
    ['different', trans.__('different')],
    ['error', trans.__('error')],
    ['missing', trans.__('missing')],
    ['new', trans.__('new')],
    ['same', trans.__('same')]
  ];
  return order
    .filter(([state]) => (cells.counts[state] ?? 0) > 0)
    .map(([state, word]) => `${cells.counts[state]} ${word}`)
    .join(' · ');
}

/**
 * The verdict: does the latest run reproduce its baseline, and what was
 * compared with what.
 *
 * @param trans - the translation bundle
 * @param cells - the cells reply (the latest run vs the baseline)
 * @param checks - the checks reply (the latest run's checks vs the baseline)
 * @param label - a cell's name for people (`cell 5 (code cell 3)`, see cells.ts)
 */
/**
 * `run 2` (this notebook's second run), with the store-wide id when it differs
 * (`run 2 (id 5)`): commands such as `repro-nb compare NB 5` take the id.
 */
export function runName(id: number, number?: number | null): string {
  return number === undefined || number === null || number === id
    ? `run ${id}`
    : `run ${number} (id ${id})`;
}

/** Store id -> this notebook's run number, from the status reply's latest and baseline runs. */
export function runNumbers(status: IStatusReply | null): Map<number, number> {
  const out = new Map<number, number>();
  for (const run of [status?.latest_run, status?.baseline_run]) {
    if (run && typeof run.number === 'number') {
      out.set(run.id, run.number);
    }
  }
  return out;
}

/** `recorded headless` for a run not made in a notebook kernel; '' for one that was. */
export function recordedHow(kind: string): string {
  switch (kind) {
    case 'run':
    case 'export':
      return 'recorded headless';
    case 'bundle':
      return 'from a bundle';
    case 'script':
      return 'recorded from a script';
    case 'verify':
      return 'recorded by verify';
    default:
      return '';
  }
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function verdictOf(
  trans: TranslationBundle,
  cells: ICellsReply | null,
  checks: IChecksReply | null,
  label: (cell: ICellDiff) => string,
  status: IStatusReply | null = null
): IVerdict {
  const numbers = runNumbers(status);
  const name = (id: number | null): string => (id === null ? '—' : runName(id, numbers.get(id)));
  if (cells === null) {
    return { tone: 'loading', headline: trans.__('Loading…'), sentence: '', first: null };
  }
  // How the baseline was recorded, when not in this notebook's kernel (`make demo`, a bundle).
  const base = [status?.baseline_run, status?.latest_run].find(r => r && r.id === cells.baseline);
  const how = base ? recordedHow(base.kind) : '';
  if (cells.run === null || cells.total === 0) {
    return {
      tone: 'none',
      headline: trans.__('No cells recorded yet'),
      sentence: trans.__('Run the notebook with recording on to compare it with a baseline.'),
      first: null
    };
  }
  const checksText = checksClause(trans, checks);
  const tail = checksText ? `, ${checksText}` : '';
  if (cells.baseline === null || cells.baseline === cells.run) {
    return {
      tone: 'baseline',
      headline: trans.__('%1 is the baseline', capitalize(name(cells.run))),
      sentence: trans._n(
        '%2 (the latest%4) is the baseline: %1 cell recorded%3. Run the notebook again to compare.',
        '%2 (the latest%4) is the baseline: %1 cells recorded%3. Run the notebook again to compare.',
        cells.total,
        capitalize(name(cells.run)),
        tail,
        how ? `, ${how}` : ''
      ),
      first: null
    };
  }
  const compared = trans.__(
    'Latest %1 vs baseline %2%3',
    name(cells.run),
    name(cells.baseline),
    how ? ` (${how})` : ''
  );
  const first = cells.first_divergent;
  const failing = checkCounts(checks).fail;
  if (first === null && failing === 0) {
    return {
      tone: 'ok',
      headline: trans.__('All cells match the baseline'),
      sentence: trans._n(
        '%2: the %1 cell matches%3.',
        '%2: all %1 cells match%3.',
        cells.total,
        compared,
        tail
      ),
      first: null
    };
  }
  const differing = cells.total - (cells.counts.same ?? 0);
  return {
    tone: 'diverged',
    headline: first
      ? trans.__('Diverges at %1', label(first))
      : trans._n('%1 check fails', '%1 checks fail', failing),
    sentence: trans.__('%1: %2 of %3 cells differ%4.', compared, differing, cells.total, tail),
    first
  };
}

/** The checklist score as shown: every item counts, unknown ones as their own state. */
export function checklistScore(items: readonly IChecklistItem[]): {
  passed: number;
  failed: number;
  unknown: number;
  total: number;
} {
  const passed = items.filter(i => i.ok === true).length;
  const failed = items.filter(i => i.ok === false).length;
  return { passed, failed, unknown: items.length - passed - failed, total: items.length };
}

/** The drift items as the section shows them. */
export interface IDriftGroups {
  /** Major and minor items (imported packages first). */
  flagged: IDriftItem[];
  /** Info items about what the notebook uses (collapsed at first). */
  info: IDriftItem[];
  /** Packages the notebook does not import, any severity: one collapsed row. */
  unimported: IDriftItem[];
  counts: Record<string, number>;
}

/** Split drift items into what is flagged, info and packages the notebook does not import. */
export function driftGroups(drift: IDriftReply | null): IDriftGroups {
  const items = [...(drift?.report?.items ?? [])];
  const severityOrder = (s: string): number =>
    ({ major: 0, minor: 1 })[s.toLowerCase()] ?? (s.toLowerCase() === 'info' ? 3 : 2);
  items.sort(
    (a, b) =>
      Number(!a.imported) - Number(!b.imported) ||
      severityOrder(a.severity) - severityOrder(b.severity) ||
      a.kind.localeCompare(b.kind) ||
      a.name.localeCompare(b.name)
  );
  const unimported = items.filter(i => i.kind === 'package' && !i.imported);
  const rest = items.filter(i => !(i.kind === 'package' && !i.imported));
  const isInfo = (i: IDriftItem): boolean => severityOrder(i.severity) >= 2;
  return {
    flagged: rest.filter(i => !isInfo(i)),
    info: rest.filter(isInfo),
    unimported,
    counts: drift?.report?.counts ?? {}
  };
}

/** `1 major · 3 minor` (info counted only when nothing else is), or `none`. */
export function driftCountText(trans: TranslationBundle, drift: IDriftReply | null): string {
  if (drift === null) {
    return '';
  }
  if (drift.report === null || drift.baseline === drift.run) {
    return '';
  }
  const counts = drift.report.counts;
  const parts = ['major', 'minor']
    .filter(s => (counts[s] ?? 0) > 0)
    .map(s => trans.__('%1 %2', counts[s], s));
  if (parts.length === 0) {
    return (counts.info ?? 0) > 0 ? trans.__('%1 info', counts.info) : trans.__('none');
  }
  return parts.join(' · ');
}

/** The level a finished verify job reached (`bitwise`, `within tolerance`, …), if any. */
export function verifyLevel(job: IJob | undefined): string | null {
  if (!job || job.state !== 'done' || !job.result) {
    return null;
  }
  const level = job.result.level;
  return typeof level === 'string' && level ? level : null;
}
