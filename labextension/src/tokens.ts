import { Token } from '@lumino/coreutils';
import { ISignal } from '@lumino/signaling';

/**
 * Payloads of the repro_nb REST API. They mirror repro_nb/server/ (handlers.py, reader.py), which
 * passes the core's `to_dict()` results through, so field names are snake_case.
 */

/** One recorded run (kernel session) of a notebook: history.RunInfo. */
export interface IRunInfo {
  id: number;
  run_uuid: string;
  notebook: string;
  kind: string;
  started: number;
  ended: number | null;
  n_cells: number;
  n_errors: number;
  seed: ISeedRecord | null;
  capture: boolean;
  environment_id: number | null;
  git_id: number | null;
  label: string | null;
  is_baseline: boolean;
  /** This notebook's run number (1 = its oldest run); `id` is store-wide. */
  number?: number | null;
}

/** One item of the reproducibility checklist: history.ChecklistItem. */
export interface IChecklistItem {
  name: string;
  /** `null`: does not apply / unknown. */
  ok: boolean | null;
  detail: string;
}

/** seeding.SeedReport.to_dict(), as recorded with the run. */
export interface ISeedRecord {
  requested?: {
    seed?: number;
    deterministic?: boolean;
    /** `auto`, `strict`, `warn` or `off`: how torch's deterministic algorithms were asked. */
    determinism?: string;
    per_cell?: boolean;
    [key: string]: unknown;
  } | null;
  effective?: {
    seed?: number | null;
    deterministic_algorithms?: boolean | null;
    hash_seed?: string;
    [key: string]: unknown;
  } | null;
  warnings?: string[];
  [key: string]: unknown;
}

/** history.NotebookStatus.to_dict() */
export interface INotebookStatus {
  notebook: string;
  store: string;
  has_record: boolean;
  session_id: number | null;
  baseline_id: number | null;
  capture: boolean | null;
  seed: ISeedRecord | null;
  seed_warnings: string[];
  checklist: IChecklistItem[];
  summary: string;
  n_runs: number;
  /** Every item shown counts: `total` = passed + failed + unknown. */
  score: { passed: number; total: number; failed?: number; unknown?: number };
  /** This notebook's numbers of the latest run and of the baseline. */
  run_number?: number | null;
  baseline_number?: number | null;
}

/** Fields every reply of a notebook endpoint has. */
export interface INotebookReply {
  /** The notebook path relative to the server root. */
  path: string;
  /** Changes whenever the notebook's record changes. */
  revision: string;
}

/** GET status?path=NB */
export interface IStatusReply extends INotebookReply {
  notebook: string | null;
  store: string | null;
  recorded: boolean;
  n_runs: number;
  latest_run: IRunInfo | null;
  baseline_run: IRunInfo | null;
  status: INotebookStatus | null;
}

/** GET runs?path=NB */
export interface IRunsReply extends INotebookReply {
  runs: IRunInfo[];
  baseline: number | null;
}

/** State of one cell in a run compared with the baseline: history.CellDiff. */
export type CellState = 'same' | 'different' | 'new' | 'missing' | 'error';

export interface ICellDiff {
  key: string;
  index: number | null;
  cell_id: string | null;
  excerpt: string;
  state: CellState;
  /** Generators whose state after the cell differs: evidence of a cause, never a difference. */
  rng_differs: string[];
  /** Generators this cell drew from in the run. */
  rng_drawn: string[];
  /** The user's generator variables that differ (RNG state, not values). */
  generators_differ: string[];
  values_differ: string[];
  values_new: string[];
  values_missing: string[];
  files_differ: string[];
  error: string | null;
  /** One line: why the cell is not the same (its state when it is). */
  reason: string;
}

/** GET cells?path=NB[&run=ID]: history.RunComparison.to_dict() plus ids. */
export interface ICellsReply extends INotebookReply {
  run: number | null;
  baseline: number | null;
  /** All cells of the run; `cells` holds `limit` of them from `offset`. */
  total: number;
  offset: number;
  limit: number;
  cells: ICellDiff[];
  first_divergent: ICellDiff | null;
  counts: Partial<Record<CellState, number>>;
}

/** One environment difference: drift.DriftItem. */
export interface IDriftItem {
  kind: string;
  name: string;
  before: unknown;
  after: unknown;
  /** `major`, `minor` or `info`. */
  severity: string;
  why: string;
  imported: boolean;
  change: string;
  detail: string | null;
}

/** drift.DriftReport.to_dict() */
export interface IDriftReport {
  before: string;
  after: string;
  /** Item counts per severity (major, minor, info). */
  counts: Record<string, number>;
  /** One line, e.g. "2 major, 5 minor" or "no drift". */
  summary: string;
  items: IDriftItem[];
}

/** GET drift?path=NB */
export interface IDriftReply extends INotebookReply {
  baseline: number | null;
  run: number | null;
  /** `null` when a run lacks an environment (capture was off). */
  report: IDriftReport | null;
}

/** validation.RunStats.to_dict() (statistics of a check over runs). */
export interface ICheckStats {
  name: string | null;
  n: number;
  mean: number | null;
  std: number | null;
  cv: number | null;
  ci_low: number | null;
  ci_high: number | null;
  confidence: number;
  stable: boolean | null;
  [key: string]: unknown;
}

/** validation.ReportItem.to_dict() */
export interface IReportItem {
  name: string;
  /** `pass`, `fail`, `new` (no baseline value) or `missing`. */
  status: string;
  expected: unknown;
  actual: unknown;
  error: Record<string, unknown> | null;
  reason: string | null;
  rtol: number | null;
  atol: number | null;
  cell: unknown;
  stats: ICheckStats | null;
}

/** validation.ValidationReport.to_dict() */
export interface IValidationReport {
  notebook: string | null;
  session_id: number | null;
  baseline_id: number | null;
  passed: boolean;
  counts: Record<string, number>;
  items: IReportItem[];
}

/** GET checks?path=NB */
export interface IChecksReply extends INotebookReply {
  run: number | null;
  report: IValidationReport | null;
}

/** One side of a comparison: compare.side_by_side.RunSide.to_dict(). */
export interface IRunSide {
  id: number;
  /** This notebook's run number (`id` is store-wide). */
  number?: number | null;
  /** `run 5 · 2026-12-01 10:02 · headless` */
  title: string;
  kind: string;
  started: number;
  label: string | null;
  seed: unknown;
  commit: string | null;
  branch: string | null;
  dirty: boolean | null;
  python: string | null;
  host: string | null;
}

/** How a configuration key changed from run A to run B. */
export type ConfigState = 'changed' | 'added' | 'removed' | 'same';

/** One configuration key that differs: compare.side_by_side.ConfigChange. */
export interface IConfigChange {
  /** Dotted, e.g. `cfg.optim.lr`. */
  key: string;
  before: unknown;
  after: unknown;
  state: ConfigState;
}

/** A file changed between the runs' commits. */
export interface IGitFile {
  path: string;
  added: number | null;
  deleted: number | null;
}

/** The runs' commits and what changed: compare.side_by_side.GitChange. */
export interface IGitChange {
  before: string | null;
  after: string | null;
  dirty_before: boolean | null;
  dirty_after: boolean | null;
  /** Same commit and neither side dirty. */
  same: boolean;
  /** Commits between them, when both are in the repository here. */
  commits: number | null;
  files: IGitFile[];
  note: string | null;
  /** One line: `ab12cd3 → 9f8e7d6: 2 commits, 3 files (+10 −4)`. */
  summary: string;
}

/**
 * One check in both runs: compare.side_by_side.CheckPair. `verdict` is
 * `within tolerance`, `outside tolerance`, `only in A` or `only in B`.
 */
export interface ICheckPair {
  name: string;
  before: unknown;
  after: unknown;
  rtol: number | null;
  atol: number | null;
  verdict: string;
  /** Why it is outside tolerance. */
  reason: string | null;
}

/** A cell of run B that differs from run A, with its label and one-line reason. */
export interface ICompareCell extends ICellDiff {
  /** `cell 3`: its recorded place (1-based). */
  label: string;
  reason: string;
}

/** GET compare?path=NB&a=RUN&b=RUN: compare.side_by_side.SideBySide.to_dict(). */
export interface ICompareReply extends INotebookReply {
  notebook: string;
  /** One line: `run 3 vs run 5: differ in 2 config values, 1 check`. */
  summary: string;
  a: IRunSide;
  b: IRunSide;
  config: IConfigChange[];
  /** How many configuration keys are equal. */
  config_same: number;
  git: IGitChange;
  drift: IDriftReport;
  checks: ICheckPair[];
  /** Only the cells that differ. */
  cells: ICompareCell[];
  /** Cells per state, all cells of the comparison. */
  cell_counts: Partial<Record<CellState, number>>;
}

/** Job kinds the server runs off its event loop. */
export type JobKind = 'export' | 'verify' | 'restore';
export type JobState = 'queued' | 'running' | 'done' | 'failed';

/** GET jobs/ID */
export interface IJob {
  id: string;
  kind: JobKind;
  path: string;
  state: JobState;
  progress: number;
  message: string;
  result: Record<string, unknown> | null;
  /** The zip's URL path, once an export is done. */
  download: string | null;
  created: number;
  finished: number | null;
}

/** POST export / POST verify */
export interface IJobStarted {
  job: string;
}

/**
 * The typed REST client the model talks to (implemented in api.ts; tests
 * inject a fake).
 */
export interface IReproAPI {
  status(path: string): Promise<IStatusReply>;
  runs(path: string): Promise<IRunsReply>;
  cells(path: string, run?: number | null, limit?: number): Promise<ICellsReply>;
  drift(path: string): Promise<IDriftReply>;
  checks(path: string): Promise<IChecksReply>;
  /**
   * Run `b` against run `a`; each is a run id or `latest`, `previous`,
   * `baseline`, `-N` (default: baseline vs latest).
   */
  compare(
    path: string,
    a?: string | number | null,
    b?: string | number | null
  ): Promise<ICompareReply>;
  startExport(path: string): Promise<IJobStarted>;
  startVerify(path: string, runs?: number): Promise<IJobStarted>;
  startRestore(path: string): Promise<IJobStarted>;
  job(id: string): Promise<IJob>;
  downloadURL(id: string): string;
}

/** What the sidebar shows: loading, nothing recorded, the record, or an error. */
export type Phase = 'idle' | 'loading' | 'empty' | 'ready' | 'error';

/**
 * The "Compare runs" section: which two runs, and their comparison. It reads
 * the runs and the comparison only while it is open.
 */
export interface ICompareState {
  open: boolean;
  /** The run picked as A; `null`: the baseline. */
  a: number | null;
  /** The run picked as B; `null`: the latest run. */
  b: number | null;
  /** The comparison of the runs last asked for (kept while the next one loads). */
  reply: ICompareReply | null;
  loading: boolean;
  /** Why the comparison failed (a run that is gone, a store error). */
  error: string | null;
}

/** The sidebar model's state (immutable snapshots). */
export interface IReproState {
  path: string | null;
  phase: Phase;
  error: string | null;
  status: IStatusReply | null;
  cells: ICellsReply | null;
  drift: IDriftReply | null;
  checks: IChecksReply | null;
  /** The notebook's runs (read while the compare section is open). */
  runs: IRunsReply | null;
  compare: ICompareState;
  /** Errors of single sections (the others still render). */
  sectionErrors: Partial<Record<'cells' | 'drift' | 'checks' | 'runs', string>>;
  jobs: Partial<Record<JobKind, IJob>>;
  /** Why a job could not start (the request itself failed). */
  jobErrors: Partial<Record<JobKind, string>>;
  updated: number | null;
}

/** The model behind the sidebar: state, refreshes and jobs. */
export interface IReproModel {
  readonly state: IReproState;
  readonly stateChanged: ISignal<IReproModel, IReproState>;
  path: string | null;
  refresh(): Promise<void>;
  startExport(): Promise<void>;
  startVerify(runs?: number): Promise<void>;
  startRestore(): Promise<void>;
  /** Open or close the compare section (it reads runs and the comparison while open). */
  compareOpen: boolean;
  /**
   * Compare run `b` with run `a` (ids; `null`: the baseline for A, the latest
   * run for B) and open the compare section.
   */
  compareRuns(a: number | null, b: number | null): Promise<void>;
}

/** The token other extensions can require to read or refresh the record. */
export const IReproModel = new Token<IReproModel>(
  'repro-nb:IReproModel',
  'The repro_nb sidebar model: the followed notebook and its reproducibility record.'
);

/** Command ids. */
export namespace CommandIDs {
  export const open = 'repro-nb:open';
  export const refresh = 'repro-nb:refresh';
  export const exportBundle = 'repro-nb:export';
  export const verify = 'repro-nb:verify';
  export const restore = 'repro-nb:restore';
  export const compare = 'repro-nb:compare';
}

/** The sidebar widget id (also the tab's data-id). */
export const SIDEBAR_ID = 'repro-nb-sidebar';
