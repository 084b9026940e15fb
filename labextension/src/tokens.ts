import { Token } from '@lumino/coreutils';
import { ISignal } from '@lumino/signaling';

/**
 * Payloads of the repro_nb REST API. They mirror repro_nb/routes.py, which
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
  seed: Record<string, unknown> | null;
  environment_id: number | null;
  is_baseline: boolean;
  label?: string | null;
}

/** One item of the reproducibility checklist. */
export interface IChecklistItem {
  key?: string;
  label: string;
  ok: boolean | null;
  detail?: string | null;
  fix?: string | null;
}

/** history.NotebookStatus.to_dict(): seed, capture, checklist, last run line. */
export interface INotebookStatus {
  seed?: {
    requested?: unknown;
    effective?: unknown;
    warnings?: string[];
    [key: string]: unknown;
  } | null;
  capture?: boolean | null;
  checklist?: IChecklistItem[];
  score?: number | null;
  last_run?: string | null;
  [key: string]: unknown;
}

/** GET status?path=NB */
export interface IStatusReply {
  path: string;
  notebook: string | null;
  store: string | null;
  recorded: boolean;
  revision: string;
  n_runs: number;
  latest_run: IRunInfo | null;
  baseline_run: IRunInfo | null;
  status: INotebookStatus | null;
}

/** GET runs?path=NB */
export interface IRunsReply {
  path: string;
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
  rng_differs: string[];
  values_differ: string[];
  values_new: string[];
  files_differ: string[];
  error: string | null;
}

/** GET cells?path=NB[&run=ID] */
export interface ICellsReply {
  path: string;
  run: number | null;
  baseline: number | null;
  cells: ICellDiff[];
  first_divergent: ICellDiff | null;
  counts: Partial<Record<CellState, number>>;
}

/** One environment difference: drift.DriftItem. */
export interface IDriftItem {
  item: string;
  before: unknown;
  after: unknown;
  severity: string;
  why?: string | null;
  imported?: boolean;
  category?: string | null;
  [key: string]: unknown;
}

/** GET drift?path=NB */
export interface IDriftReply {
  path: string;
  baseline: number | null;
  run: number | null;
  items: IDriftItem[];
  summary: Record<string, number>;
}

/** One recorded check (store row, JSON fields decoded). */
export interface ICheck {
  id: number;
  name: string;
  value: unknown;
  expected: unknown;
  rtol: number | null;
  atol: number | null;
  passed: boolean | null;
  detail: unknown;
  session_id: number;
  cell_row: number | null;
}

/** Statistics of one check over runs (validation stats). */
export interface ICheckStats {
  name: string;
  n: number;
  mean: number | null;
  std: number | null;
  ci95?: [number, number] | null;
  [key: string]: unknown;
}

/** GET checks?path=NB */
export interface IChecksReply {
  path: string;
  run: number | null;
  checks: ICheck[];
  passed: number;
  failed: number;
  unknown: number;
  stats: ICheckStats[];
}

/** Job kinds the server runs off its event loop. */
export type JobKind = 'export' | 'verify';
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
  cells(path: string, run?: number | null): Promise<ICellsReply>;
  drift(path: string): Promise<IDriftReply>;
  checks(path: string): Promise<IChecksReply>;
  startExport(path: string): Promise<IJobStarted>;
  startVerify(path: string, runs?: number): Promise<IJobStarted>;
  job(id: string): Promise<IJob>;
  downloadURL(id: string): string;
}

/** What the sidebar shows: loading, nothing recorded, the record, or an error. */
export type Phase = 'idle' | 'loading' | 'empty' | 'ready' | 'error';

/** The sidebar model's state (immutable snapshots). */
export interface IReproState {
  path: string | null;
  phase: Phase;
  error: string | null;
  status: IStatusReply | null;
  cells: ICellsReply | null;
  drift: IDriftReply | null;
  checks: IChecksReply | null;
  /** Errors of single sections (the others still render). */
  sectionErrors: Partial<Record<'cells' | 'drift' | 'checks', string>>;
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
}

/** The sidebar widget id (also the tab's data-id). */
export const SIDEBAR_ID = 'repro-nb-sidebar';
