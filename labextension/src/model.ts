import { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import {
  ICompareReply,
  ICompareState,
  IJob,
  IReproAPI,
  IReproModel,
  IReproState,
  JobKind
} from './tokens';

/** Cells of a run the sidebar loads (the server pages them; huge runs show a note). */
export const CELLS_LOADED = 1000;

type SectionName = 'cells' | 'drift' | 'checks' | 'runs';

/** The compare section before anything is picked or read. */
export const EMPTY_COMPARE: ICompareState = Object.freeze({
  open: false,
  a: null,
  b: null,
  reply: null,
  loading: false,
  error: null
}) as ICompareState;

/** The state of a model that follows no notebook. */
export const EMPTY_STATE: IReproState = Object.freeze({
  path: null,
  phase: 'idle',
  error: null,
  status: null,
  cells: null,
  drift: null,
  checks: null,
  runs: null,
  compare: EMPTY_COMPARE,
  sectionErrors: {},
  jobs: {},
  jobErrors: {},
  updated: null
}) as IReproState;

function messageOf(error: unknown): string {
  if (error instanceof Error) {
    return error.message;
  }
  return String(error);
}

/**
 * The sidebar's model: which notebook is followed, its record as last read
 * from the server, and the export/verify jobs. It owns a Lumino `Poll` that
 * re-reads the record while the sidebar is visible: the poll interval doubles
 * (up to `maxFactor` times) while the record does not change and backs off
 * exponentially after server errors. No DOM here: widgets render `state`.
 */
export class ReproModel implements IReproModel, IDisposable {
  constructor(options: ReproModel.IOptions) {
    this._api = options.api;
    this._interval = options.interval ?? 10_000;
    this._maxFactor = options.maxFactor ?? 10;
    this._jobInterval = options.jobInterval ?? 500;
    this._poll = new Poll<void, Error, 'standby'>({
      auto: false,
      factory: () => this._tick(),
      frequency: {
        interval: this._interval,
        backoff: true,
        max: this._interval * this._maxFactor
      },
      name: 'repro-nb:record',
      standby: () => (!this._active || this._state.path === null ? true : 'when-hidden')
    });
    if (options.active ?? true) {
      this._active = true;
    }
    void this._poll.start();
  }

  /** The current state (a new object on every change). */
  get state(): IReproState {
    return this._state;
  }

  /** Emitted with the new state whenever it changes. */
  get stateChanged(): ISignal<this, IReproState> {
    return this._stateChanged;
  }

  /** The poll that re-reads the record (exposed for tests and settings). */
  get poll(): Poll<void, Error, 'standby'> {
    return this._poll;
  }

  /**
   * The followed notebook, as a path relative to the server root, or `null`.
   * Setting it resets the state and reads the new notebook's record.
   */
  get path(): string | null {
    return this._state.path;
  }
  set path(path: string | null) {
    if (path === this._state.path) {
      return;
    }
    this._generation += 1;
    this._revision = null;
    this._setState({
      ...EMPTY_STATE,
      path,
      phase: path === null ? 'idle' : 'loading',
      // An open compare section stays open for the next notebook; the picks are per notebook.
      compare: { ...EMPTY_COMPARE, open: this._state.compare.open },
      jobs: path === null ? {} : { ...(this._jobs.get(path) ?? {}) }
    });
    if (path !== null && this._active) {
      void this.refresh();
    }
  }

  /**
   * Whether the view is shown; the poll stands by while it is not.
   */
  get active(): boolean {
    return this._active;
  }
  set active(active: boolean) {
    if (active === this._active) {
      return;
    }
    this._active = active;
    if (active) {
      void this.refresh();
    }
  }

  /** The base poll interval in milliseconds. */
  get interval(): number {
    return this._interval;
  }
  set interval(interval: number) {
    if (!(interval > 0) || interval === this._interval) {
      return;
    }
    this._interval = interval;
    this._resetFrequency();
  }

  /** Whether a read of the record is in flight. */
  get isLoading(): boolean {
    return this._loading !== null;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /**
   * Re-read the record now (status first; the sections only when the
   * record's revision changed or `force`). Never rejects: failures land in
   * `state.error` / `state.sectionErrors`.
   */
  async refresh(force = true): Promise<void> {
    try {
      await this._load(force);
    } catch {
      // Already in the state; the poll backs off on its own ticks.
    }
    this._resetFrequency();
  }

  /** Start an export of the followed notebook and follow the job. */
  startExport(): Promise<void> {
    return this._startJob('export', path => this._api.startExport(path));
  }

  /** Start a verification of the followed notebook and follow the job. */
  startVerify(runs = 1): Promise<void> {
    return this._startJob('verify', path => this._api.startVerify(path, runs));
  }

  /**
   * Start restoring the followed notebook's environment (infer, date, resolve, repair) and
   * follow the job; its result names a kernel to switch to.
   */
  startRestore(): Promise<void> {
    return this._startJob('restore', path => this._api.startRestore(path));
  }

  /**
   * Whether the compare section is open. Opening it reads the notebook's runs
   * and the comparison of the picked runs; while it is open, both are re-read
   * whenever the record changes.
   */
  get compareOpen(): boolean {
    return this._state.compare.open;
  }
  set compareOpen(open: boolean) {
    if (open === this._state.compare.open) {
      return;
    }
    this._setCompare({ open });
    if (open) {
      void this._refreshCompare();
    }
  }

  /**
   * Compare run `b` with run `a` and open the compare section.
   *
   * @param a - the run id for A; `null`: the baseline run
   * @param b - the run id for B; `null`: the latest run
   */
  async compareRuns(a: number | null, b: number | null): Promise<void> {
    const reopen = !this._state.compare.open;
    this._setCompare({ a, b, open: true });
    if (reopen || this._state.runs === null) {
      await this._refreshCompare();
    } else {
      await this._loadCompare();
    }
  }

  /** The URL of an export job's zip. */
  downloadURL(job: IJob): string {
    return this._api.downloadURL(job.id);
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._poll.dispose();
    for (const poll of this._jobPolls.values()) {
      poll.dispose();
    }
    this._jobPolls.clear();
    Signal.clearData(this);
  }

  private async _tick(): Promise<void> {
    const changed = await this._load(false);
    // Idle backoff: double the interval while nothing changes.
    const current = this._poll.frequency;
    const max = this._interval * this._maxFactor;
    const interval = changed ? this._interval : Math.min(current.interval * 2, max);
    if (interval !== current.interval) {
      this._poll.frequency = { ...current, interval, max };
    }
  }

  private _resetFrequency(): void {
    if (this._isDisposed) {
      return;
    }
    this._poll.frequency = {
      interval: this._interval,
      backoff: true,
      max: this._interval * this._maxFactor
    };
  }

  /**
   * Read the status; when its revision moved (or `force`), read the sections.
   * Resolves to whether anything changed; rejects when the status failed.
   */
  private _load(force: boolean): Promise<boolean> {
    // Coalesce: one load at a time; a request made meanwhile runs once after.
    if (this._loading) {
      this._again = this._again || force;
      return this._loading;
    }
    const run = async (): Promise<boolean> => {
      let changed = false;
      let failure: unknown = null;
      let again = force;
      try {
        do {
          this._again = false;
          try {
            changed = (await this._loadOnce(again)) || changed;
            failure = null;
          } catch (error) {
            failure = error;
          }
          again = true;
        } while (this._again && !this._isDisposed);
      } finally {
        this._loading = null;
      }
      if (failure !== null) {
        throw failure;
      }
      return changed;
    };
    this._loading = run();
    return this._loading;
  }

  private async _loadOnce(force: boolean): Promise<boolean> {
    const path = this._state.path;
    if (path === null || this._isDisposed) {
      return false;
    }
    const generation = this._generation;
    const stale = () => generation !== this._generation || this._isDisposed;
    let status;
    try {
      status = await this._api.status(path);
    } catch (error) {
      if (!stale()) {
        this._setState({ ...this._state, phase: 'error', error: messageOf(error) });
      }
      throw error;
    }
    if (stale()) {
      return false;
    }
    if (!status.recorded) {
      const changed = this._state.phase !== 'empty';
      this._revision = status.revision;
      this._setState({
        ...this._state,
        phase: 'empty',
        error: null,
        status,
        cells: null,
        drift: null,
        checks: null,
        runs: null,
        compare: { ...this._state.compare, reply: null, loading: false, error: null },
        sectionErrors: {},
        updated: Date.now()
      });
      return changed;
    }
    if (
      !force &&
      status.revision === this._revision &&
      this._state.phase === 'ready' &&
      Object.keys(this._state.sectionErrors).length === 0
    ) {
      return false;
    }
    // Show the status at once; each section follows as its reply arrives (a slow section,
    // e.g. checks with long histories, never holds up the others).
    this._revision = status.revision;
    this._setState({ ...this._state, phase: 'ready', error: null, status, updated: Date.now() });
    const compare = this._state.compare.open
      ? [this._loadSection('runs', this._api.runs(path), generation), this._loadCompare()]
      : [];
    await Promise.all([
      this._loadSection('cells', this._api.cells(path, null, CELLS_LOADED), generation),
      this._loadSection('drift', this._api.drift(path), generation),
      this._loadSection('checks', this._api.checks(path), generation),
      ...compare
    ]);
    return true;
  }

  /** Read one section; its reply or its error lands in the state unless the notebook changed. */
  private async _loadSection<K extends SectionName>(
    name: K,
    request: Promise<IReproState[K]>,
    generation: number
  ): Promise<void> {
    let value: IReproState[K] | null = null;
    let failure: string | undefined;
    try {
      value = await request;
    } catch (error) {
      failure = messageOf(error);
    }
    if (generation !== this._generation || this._isDisposed) {
      return;
    }
    const sectionErrors = { ...this._state.sectionErrors };
    if (failure === undefined) {
      delete sectionErrors[name];
    } else {
      sectionErrors[name] = failure;
    }
    this._setState({ ...this._state, [name]: value, sectionErrors, updated: Date.now() });
  }

  /** Read the runs and the comparison, when the compare section is open on a record. */
  private async _refreshCompare(): Promise<void> {
    const path = this._state.path;
    if (path === null || !this._state.compare.open || this._state.phase !== 'ready') {
      return;
    }
    await Promise.all([
      this._loadSection('runs', this._api.runs(path), this._generation),
      this._loadCompare()
    ]);
  }

  /**
   * Read the comparison of the picked runs (baseline vs latest by default).
   * Only the reply to the latest request is kept, so quick re-picks never show
   * an older pair.
   */
  private async _loadCompare(): Promise<void> {
    const path = this._state.path;
    if (path === null || this._isDisposed || this._state.phase !== 'ready') {
      return;
    }
    const generation = this._generation;
    const request = ++this._compareRequest;
    const { a, b } = this._state.compare;
    this._setCompare({ loading: true });
    let reply: ICompareReply | null = null;
    let error: string | null = null;
    try {
      reply = await this._api.compare(path, a ?? 'baseline', b ?? 'latest');
    } catch (failure) {
      error = messageOf(failure);
    }
    if (generation !== this._generation || request !== this._compareRequest || this._isDisposed) {
      return;
    }
    this._setCompare({ reply, error, loading: false });
  }

  private _setCompare(change: Partial<ICompareState>): void {
    this._setState({ ...this._state, compare: { ...this._state.compare, ...change } });
  }

  private async _startJob(
    kind: JobKind,
    start: (path: string) => Promise<{ job: string }>
  ): Promise<void> {
    const path = this._state.path;
    if (path === null) {
      return;
    }
    const running = this._jobs.get(path)?.[kind];
    if (running && (running.state === 'queued' || running.state === 'running')) {
      return;
    }
    this._setJobError(path, kind, undefined);
    let id: string;
    try {
      id = (await start(path)).job;
    } catch (error) {
      this._setJobError(path, kind, messageOf(error));
      return;
    }
    this._updateJob(path, {
      id,
      kind,
      path,
      state: 'queued',
      progress: 0,
      message: '',
      result: null,
      download: null,
      created: Date.now() / 1000,
      finished: null
    });
    const key = `${kind}:${path}`;
    this._jobPolls.get(key)?.dispose();
    const poll = new Poll<void, Error, 'standby'>({
      auto: true,
      factory: async () => {
        let job: IJob;
        try {
          job = await this._api.job(id);
        } catch (error) {
          this._setJobError(path, kind, messageOf(error));
          throw error;
        }
        this._setJobError(path, kind, undefined);
        this._updateJob(path, job);
        if (job.state === 'done' || job.state === 'failed') {
          poll.dispose();
          this._jobPolls.delete(key);
          if (path === this._state.path) {
            // Verify adds runs and export may record one: re-read now.
            void this.refresh();
          }
        }
      },
      frequency: { interval: this._jobInterval, backoff: true, max: this._jobInterval * 20 },
      name: `repro-nb:job:${kind}`,
      standby: 'never'
    });
    this._jobPolls.set(key, poll);
  }

  private _updateJob(path: string, job: IJob): void {
    const jobs = { ...(this._jobs.get(path) ?? {}), [job.kind]: job };
    this._jobs.set(path, jobs);
    if (path === this._state.path) {
      this._setState({ ...this._state, jobs });
    }
  }

  private _setJobError(path: string, kind: JobKind, message: string | undefined): void {
    if (path !== this._state.path) {
      return;
    }
    const current = this._state.jobErrors[kind];
    if (current === message) {
      return;
    }
    const jobErrors = { ...this._state.jobErrors };
    if (message === undefined) {
      delete jobErrors[kind];
    } else {
      jobErrors[kind] = message;
    }
    this._setState({ ...this._state, jobErrors });
  }

  private _setState(state: IReproState): void {
    if (this._isDisposed) {
      return;
    }
    this._state = state;
    this._stateChanged.emit(state);
  }

  private _api: IReproAPI;
  private _active = false;
  private _again = false;
  private _compareRequest = 0;
  private _generation = 0;
  private _interval: number;
  private _isDisposed = false;
  private _jobInterval: number;
  private _jobPolls = new Map<string, Poll<void, Error, 'standby'>>();
  private _jobs = new Map<string, Partial<Record<JobKind, IJob>>>();
  private _loading: Promise<boolean> | null = null;
  private _maxFactor: number;
  private _poll: Poll<void, Error, 'standby'>;
  private _revision: string | null = null;
  private _state: IReproState = EMPTY_STATE;
  private _stateChanged = new Signal<this, IReproState>(this);
}

export namespace ReproModel {
  export interface IOptions {
    /** The REST client (api.ts's `ReproAPI`, or a fake in tests). */
    api: IReproAPI;
    /** Base poll interval in milliseconds (default 10 s). */
    interval?: number;
    /** The poll never waits longer than `interval * maxFactor` (default 10). */
    maxFactor?: number;
    /** Job status poll interval in milliseconds (default 500). */
    jobInterval?: number;
    /** Whether the view starts visible (default true). */
    active?: boolean;
  }
}
