/**
 * What the "Compare runs" section shows, as plain data: run labels for the
 * pickers, the default pair, and the counts and groupings of a comparison
 * reply. No DOM here; widgets/sections/compare.tsx renders it.
 */
import { ICheckPair, ICompareReply, IDriftItem, IRunInfo } from './tokens';
import { runName } from './verdict';

/**
 * How a stored run kind is named to people (store.runs.RUN_KIND_LABELS): a
 * `repro-nb run` is `headless`, a verify run labelled `seed N` a `seed run`.
 */
const RUN_KIND_LABELS: Record<string, string> = {
  interactive: 'interactive',
  run: 'headless',
  export: 'headless',
  verify: 'verify',
  seed: 'seed run',
  script: 'script',
  bundle: 'bundle'
};

/**
 * `interactive`, `headless`, `verify`, `seed run`, … for a run's stored kind
 * (store.runs.run_kind_label).
 */
export function runKindLabel(kind: string, label: string | null = null): string {
  if (kind === 'verify' && (label ?? '').startsWith('seed ')) {
    return 'seed run';
  }
  return RUN_KIND_LABELS[kind] ?? kind;
}

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** `2026-12-01 10:02` in local time from unix seconds (`?` when unknown). */
export function formatRunTime(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) {
    return '?';
  }
  const d = new Date(seconds * 1000);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}`
  );
}

/**
 * A run as the pickers list it, the way the CLI and the reports title it:
 * `run 5 · 2026-12-01 10:02 · headless`, plus its label when it says more
 * than its kind, and `baseline` for the baseline run.
 */
export function runOptionLabel(run: IRunInfo): string {
  const kind = runKindLabel(run.kind, run.label);
  const parts = [runName(run.id, run.number), formatRunTime(run.started), kind];
  if (run.label && run.label !== 'run' && run.label !== kind) {
    parts.push(run.label);
  }
  if (run.is_baseline) {
    parts.push('baseline');
  }
  return parts.join(' · ');
}

/**
 * The runs the server compares when none is picked (compare.side_by_side's
 * `baseline` and `latest`): A is the baseline, B the latest run that recorded
 * cells (or a script run); without such runs, the first and the last run.
 *
 * @param runs - the notebook's runs, oldest first (the runs reply)
 * @param baseline - the baseline run's id from the runs reply
 */
export function defaultPair(
  runs: readonly IRunInfo[],
  baseline: number | null
): { a: number | null; b: number | null } {
  if (runs.length === 0) {
    return { a: null, b: null };
  }
  const recorded = runs.filter(r => r.n_cells > 0 || r.kind === 'script');
  const pool = recorded.length > 0 ? recorded : runs;
  return {
    a: baseline ?? pool[0].id,
    b: pool[pool.length - 1].id
  };
}

/** The tone of a check's verdict: `ok`, `fail` or `only` (in one run only). */
export type VerdictTone = 'ok' | 'fail' | 'only';

/** Whether a check of both runs agreed: within tolerance, outside, or in one run only. */
export function verdictTone(verdict: string): VerdictTone {
  if (verdict === 'within tolerance') {
    return 'ok';
  }
  if (verdict === 'outside tolerance') {
    return 'fail';
  }
  return 'only';
}

/** The counts and groupings the section's headers and lists show. */
export interface ICompareView {
  /** Configuration keys that differ, and those equal. */
  configDiffer: number;
  configSame: number;
  /** Files changed between the commits and their line totals. */
  gitFiles: number;
  gitAdded: number;
  gitDeleted: number;
  /** Environment items of severity major or minor, shown; info items, collapsed. */
  drift: IDriftItem[];
  driftInfo: IDriftItem[];
  driftMajor: number;
  driftMinor: number;
  /** Checks not within tolerance (outside, or in one run only), of all checks. */
  checksOff: ICheckPair[];
  checks: number;
  /** Cells that differ, of all cells compared. */
  cellsDiffer: number;
  cellsTotal: number;
}

/**
 * Group and count a comparison reply for the section.
 *
 * @param reply - the compare reply
 */
export function compareView(reply: ICompareReply): ICompareView {
  const items = reply.drift?.items ?? [];
  const drift = items.filter(i => i.severity === 'major' || i.severity === 'minor');
  const files = reply.git.files ?? [];
  const counts = reply.cell_counts ?? {};
  return {
    configDiffer: reply.config.length,
    configSame: reply.config_same,
    gitFiles: files.length,
    gitAdded: files.reduce((n, f) => n + (f.added ?? 0), 0),
    gitDeleted: files.reduce((n, f) => n + (f.deleted ?? 0), 0),
    // Major first, then minor, in the server's order within each.
    drift: [
      ...drift.filter(i => i.severity === 'major'),
      ...drift.filter(i => i.severity === 'minor')
    ],
    driftInfo: items.filter(i => i.severity !== 'major' && i.severity !== 'minor'),
    driftMajor: drift.filter(i => i.severity === 'major').length,
    driftMinor: drift.filter(i => i.severity === 'minor').length,
    checksOff: reply.checks.filter(c => verdictTone(c.verdict) !== 'ok'),
    checks: reply.checks.length,
    cellsDiffer: reply.cells.length,
    cellsTotal: Object.values(counts).reduce((n, k) => n + (k ?? 0), 0)
  };
}
