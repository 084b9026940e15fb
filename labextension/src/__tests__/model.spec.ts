import { ReproModel } from '../model';
import {
  ICellsReply,
  IChecksReply,
  ICompareReply,
  IDriftReply,
  IJob,
  IJobStarted,
  IReproAPI,
  IReproState,
  IRunsReply,
  IStatusReply
} from '../tokens';

/** A fake REST client whose replies and failures each test sets. */
class FakeAPI implements IReproAPI {
  revision = 'r1';
  recorded = true;
  failStatus: string | null = null;
  failCells: string | null = null;
  failStart: string | null = null;
  failCompare: string | null = null;
  /** Each compare call waits for the next gate, when there is one. */
  compareGates: Promise<void>[] = [];
  calls: string[] = [];
  jobStates: IJob['state'][] = ['running', 'done'];
  statusGate: Promise<void> | null = null;
  checksGate: Promise<void> | null = null;

  async status(path: string): Promise<IStatusReply> {
    this.calls.push(`status:${path}`);
    if (this.statusGate) {
      await this.statusGate;
    }
    if (this.failStatus) {
      throw new Error(this.failStatus);
    }
    return {
      path,
      revision: this.revision,
      notebook: path,
      store: '.repro/repro.sqlite',
      recorded: this.recorded,
      n_runs: this.recorded ? 2 : 0,
      latest_run: null,
      baseline_run: null,
      status: null
    };
  }

  async runs(path: string): Promise<IRunsReply> {
    this.calls.push(`runs:${path}`);
    const run = (id: number): IRunsReply['runs'][number] => ({
      id,
      run_uuid: `u${id}`,
      notebook: path,
      kind: 'run',
      started: 1_700_000_000 + id,
      ended: null,
      n_cells: 3,
      n_errors: 0,
      seed: null,
      capture: true,
      environment_id: null,
      git_id: null,
      label: null,
      is_baseline: id === 1
    });
    return { path, revision: this.revision, runs: [run(1), run(2), run(3)], baseline: 1 };
  }

  async compare(
    path: string,
    a?: string | number | null,
    b?: string | number | null
  ): Promise<ICompareReply> {
    this.calls.push(`compare:${path}:${a}:${b}`);
    if (this.compareGates.length > 0) {
      await this.compareGates.shift();
    }
    if (this.failCompare) {
      throw new Error(this.failCompare);
    }
    const id = (ref: string | number | null | undefined, fallback: number): number =>
      typeof ref === 'number' ? ref : fallback;
    const side = (n: number): ICompareReply['a'] => ({
      id: n,
      title: `run ${n}`,
      kind: 'run',
      started: 0,
      label: null,
      seed: null,
      commit: null,
      branch: null,
      dirty: null,
      python: '3.12.0',
      host: null
    });
    const [ia, ib] = [id(a, 1), id(b, 3)];
    return {
      path,
      revision: this.revision,
      notebook: path,
      summary: `run ${ia} vs run ${ib}: differ in 1 config value`,
      a: side(ia),
      b: side(ib),
      config: [{ key: 'cfg.lr', before: 0.1, after: 0.01, state: 'changed' }],
      config_same: 2,
      git: {
        before: null,
        after: null,
        dirty_before: null,
        dirty_after: null,
        same: true,
        commits: null,
        files: [],
        note: null,
        summary: 'neither run was in a git repository'
      },
      drift: { before: 'a', after: 'b', counts: {}, summary: 'no drift', items: [] },
      checks: [],
      cells: [],
      cell_counts: { same: 3 }
    };
  }

  async cells(path: string): Promise<ICellsReply> {
    this.calls.push(`cells:${path}`);
    if (this.failCells) {
      throw new Error(this.failCells);
    }
    return {
      path,
      revision: this.revision,
      run: 2,
      baseline: 1,
      total: 0,
      offset: 0,
      limit: 2000,
      cells: [],
      first_divergent: null,
      counts: {}
    };
  }

  async drift(path: string): Promise<IDriftReply> {
    this.calls.push(`drift:${path}`);
    return { path, revision: this.revision, baseline: 1, run: 2, report: null };
  }

  async checks(path: string): Promise<IChecksReply> {
    this.calls.push(`checks:${path}`);
    if (this.checksGate) {
      await this.checksGate;
    }
    return { path, revision: this.revision, run: 2, report: null };
  }

  async startExport(path: string): Promise<IJobStarted> {
    this.calls.push(`export:${path}`);
    if (this.failStart) {
      throw new Error(this.failStart);
    }
    return { job: 'j1' };
  }

  async startVerify(path: string, runs?: number): Promise<IJobStarted> {
    this.calls.push(`verify:${path}:${runs}`);
    return { job: 'j2' };
  }

  async startRestore(path: string): Promise<IJobStarted> {
    this.calls.push(`restore:${path}`);
    return { job: 'j3' };
  }

  async job(id: string): Promise<IJob> {
    this.calls.push(`job:${id}`);
    const state = this.jobStates.shift() ?? 'done';
    return {
      id,
      kind: id === 'j1' ? 'export' : id === 'j3' ? 'restore' : 'verify',
      path: 'a.ipynb',
      state,
      progress: state === 'done' ? 1 : 0.5,
      message: state,
      result:
        state !== 'done'
          ? null
          : id === 'j3'
            ? { restored: true, kernel_name: 'restored-a' }
            : { verdict: 'reproduced' },
      download: state === 'done' && id === 'j1' ? '/repro-nb/api/jobs/j1/download' : null,
      created: 0,
      finished: state === 'done' ? 1 : null
    };
  }

  downloadURL(id: string): string {
    return `http://server/repro-nb/api/jobs/${id}/download`;
  }
}

/** Resolve once the model's state satisfies `predicate`. */
function waitFor(
  model: ReproModel,
  predicate: (state: IReproState) => boolean,
  timeout = 3000
): Promise<IReproState> {
  if (predicate(model.state)) {
    return Promise.resolve(model.state);
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      model.stateChanged.disconnect(check);
      reject(new Error(`state never matched; last: ${JSON.stringify(model.state)}`));
    }, timeout);
    const check = (_: unknown, state: IReproState): void => {
      if (predicate(state)) {
        clearTimeout(timer);
        model.stateChanged.disconnect(check);
        resolve(state);
      }
    };
    model.stateChanged.connect(check);
  });
}

/** Resolve once `condition` holds (checked on each macrotask). */
async function until(condition: () => boolean, timeout = 3000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeout) {
      throw new Error('condition never held');
    }
    await new Promise(resolve => setTimeout(resolve, 1));
  }
}

describe('ReproModel', () => {
  let api: FakeAPI;
  let model: ReproModel;

  beforeEach(() => {
    api = new FakeAPI();
    // Short intervals: a Lumino Poll disposed mid-tick still arms one last (inert) timer.
    model = new ReproModel({ api, interval: 300, jobInterval: 5 });
  });

  afterEach(() => {
    model.dispose();
  });

  it('starts idle and loads the record of the followed notebook', async () => {
    expect(model.state.phase).toBe('idle');
    const phases: string[] = [];
    model.stateChanged.connect((_, state) => phases.push(state.phase));
    model.path = 'a.ipynb';
    expect(model.state.phase).toBe('loading');
    const state = await waitFor(
      model,
      s => s.phase === 'ready' && s.cells !== null && s.drift !== null && s.checks !== null
    );
    expect(phases[0]).toBe('loading');
    expect(state.status?.revision).toBe('r1');
    expect(state.cells?.baseline).toBe(1);
    expect(state.drift).not.toBeNull();
    expect(state.checks).not.toBeNull();
    expect(state.error).toBeNull();
    expect(api.calls).toEqual(
      expect.arrayContaining(['status:a.ipynb', 'cells:a.ipynb', 'drift:a.ipynb', 'checks:a.ipynb'])
    );
  });

  it('shows the empty state for a notebook without a record', async () => {
    api.recorded = false;
    model.path = 'new.ipynb';
    const state = await waitFor(model, s => s.phase === 'empty');
    expect(state.cells).toBeNull();
    expect(api.calls).not.toContain('cells:new.ipynb');
  });

  it('shows the server error and recovers on the next refresh', async () => {
    api.failStatus = 'The store is locked';
    model.path = 'a.ipynb';
    const failed = await waitFor(model, s => s.phase === 'error');
    expect(failed.error).toBe('The store is locked');
    api.failStatus = null;
    await model.refresh();
    expect(model.state.phase).toBe('ready');
    expect(model.state.error).toBeNull();
  });

  it('keeps the other sections when one endpoint fails', async () => {
    api.failCells = 'cells broke';
    model.path = 'a.ipynb';
    const state = await waitFor(
      model,
      s => s.sectionErrors.cells !== undefined && s.drift !== null
    );
    expect(state.sectionErrors.cells).toBe('cells broke');
    expect(state.cells).toBeNull();
    expect(state.drift).not.toBeNull();
  });

  it('shows the status and fast sections before a slow one arrives', async () => {
    let release: () => void = () => undefined;
    api.checksGate = new Promise(resolve => (release = resolve));
    model.path = 'a.ipynb';
    const early = await waitFor(model, s => s.phase === 'ready' && s.cells !== null);
    expect(early.status).not.toBeNull();
    expect(early.checks).toBeNull();
    release();
    const late = await waitFor(model, s => s.checks !== null);
    expect(late.cells).not.toBeNull();
  });

  it('retries a failed section on the next poll even if nothing changed', async () => {
    api.failCells = 'cells broke';
    model.path = 'a.ipynb';
    await waitFor(
      model,
      s => s.sectionErrors.cells === 'cells broke' && s.drift !== null && s.checks !== null
    );
    await until(() => !model.isLoading);
    api.failCells = null;
    await model.refresh(false);
    expect(model.state.sectionErrors.cells).toBeUndefined();
    expect(model.state.cells).not.toBeNull();
  });

  it('re-reads the sections only when the revision changes (poll ticks)', async () => {
    model.path = 'a.ipynb';
    await waitFor(model, s => s.phase === 'ready');
    const cellsCalls = (): number => api.calls.filter(c => c.startsWith('cells:')).length;
    expect(cellsCalls()).toBe(1);
    await model.poll.refresh();
    await until(() => api.calls.filter(c => c.startsWith('status:')).length >= 2);
    await until(() => model.poll.state.phase !== 'refreshed');
    expect(cellsCalls()).toBe(1);
    api.revision = 'r2';
    await model.refresh(false);
    expect(cellsCalls()).toBe(2);
    expect(model.state.status?.revision).toBe('r2');
  });

  it('backs off while nothing changes and resets on refresh', async () => {
    model.dispose();
    model = new ReproModel({ api, interval: 5, maxFactor: 4, jobInterval: 5 });
    model.path = 'a.ipynb';
    await waitFor(model, s => s.phase === 'ready');
    const seen = new Set<number>();
    for (let i = 0; i < 6; i++) {
      await model.poll.tick;
      seen.add(model.poll.frequency.interval);
    }
    expect(Math.max(...seen)).toBe(20);
    await model.refresh();
    expect(model.poll.frequency.interval).toBe(5);
  });

  it('drops replies for a notebook it no longer follows', async () => {
    let release: () => void = () => undefined;
    api.statusGate = new Promise(resolve => (release = resolve));
    model.path = 'old.ipynb';
    api.revision = 'r-new';
    const pending = model.refresh();
    model.path = null;
    release();
    await pending;
    expect(model.state.phase).toBe('idle');
    expect(model.state.status).toBeNull();
  });

  it('follows an export job to done and exposes its download', async () => {
    model.path = 'a.ipynb';
    await waitFor(model, s => s.phase === 'ready');
    await model.startExport();
    expect(model.state.jobs.export?.state).toBe('queued');
    const state = await waitFor(model, s => s.jobs.export?.state === 'done');
    const job = state.jobs.export as IJob;
    expect(job.progress).toBe(1);
    expect(model.downloadURL(job)).toBe('http://server/repro-nb/api/jobs/j1/download');
    expect(api.calls).toContain('job:j1');
  });

  it('passes the run count to verify and reports a failed start', async () => {
    model.path = 'a.ipynb';
    await waitFor(model, s => s.phase === 'ready');
    await model.startVerify(3);
    expect(api.calls).toContain('verify:a.ipynb:3');
    await waitFor(model, s => s.jobs.verify?.state === 'done');
    api.failStart = 'No notebook at a.ipynb';
    await model.startExport();
    expect(model.state.jobErrors.export).toBe('No notebook at a.ipynb');
  });

  it('restores the environment and keeps the kernel to switch to', async () => {
    model.path = 'a.ipynb';
    await waitFor(model, s => s.phase === 'ready');
    await model.startRestore();
    expect(api.calls).toContain('restore:a.ipynb');
    const state = await waitFor(model, s => s.jobs.restore?.state === 'done');
    expect(state.jobs.restore?.result?.kernel_name).toBe('restored-a');
    expect(state.jobs.export).toBeUndefined();
  });

  it('reads runs and the comparison only while the compare section is open', async () => {
    model.path = 'a.ipynb';
    await waitFor(model, s => s.phase === 'ready' && s.checks !== null);
    expect(api.calls.filter(c => c.startsWith('compare:') || c.startsWith('runs:'))).toEqual([]);
    expect(model.state.compare.open).toBe(false);

    model.compareOpen = true;
    const state = await waitFor(model, s => s.compare.reply !== null && s.runs !== null);
    expect(api.calls).toContain('compare:a.ipynb:baseline:latest');
    expect(state.compare.loading).toBe(false);
    expect(state.compare.reply?.a.id).toBe(1);
    expect(state.compare.reply?.b.id).toBe(3);
    expect(state.runs?.runs.map(r => r.id)).toEqual([1, 2, 3]);

    // The record changed: both are read again while the section is open ...
    const compareCalls = (): number => api.calls.filter(c => c.startsWith('compare:')).length;
    api.revision = 'r2';
    await until(() => !model.isLoading);
    await model.refresh(false);
    expect(compareCalls()).toBe(2);
    // ... and not once it is closed.
    model.compareOpen = false;
    api.revision = 'r3';
    await model.refresh(false);
    expect(compareCalls()).toBe(2);
  });

  it('compares the picked runs and keeps only the latest reply', async () => {
    model.path = 'a.ipynb';
    await waitFor(model, s => s.phase === 'ready');
    await model.compareRuns(null, null);
    expect(model.state.compare.open).toBe(true);
    let first: () => void = () => undefined;
    let second: () => void = () => undefined;
    api.compareGates = [
      new Promise(resolve => (first = resolve)),
      new Promise(resolve => (second = resolve))
    ];
    const slow = model.compareRuns(2, 3);
    const fast = model.compareRuns(1, 2);
    expect(model.state.compare).toMatchObject({ a: 1, b: 2, loading: true });
    second();
    await fast;
    first();
    await slow;
    expect(api.calls).toEqual(
      expect.arrayContaining(['compare:a.ipynb:2:3', 'compare:a.ipynb:1:2'])
    );
    expect(model.state.compare.loading).toBe(false);
    expect(model.state.compare.reply?.a.id).toBe(1);
    expect(model.state.compare.reply?.b.id).toBe(2);
  });

  it('shows why a comparison failed and clears the picks for another notebook', async () => {
    model.path = 'a.ipynb';
    await waitFor(model, s => s.phase === 'ready');
    api.failCompare = 'Run 9 is not a run of a.ipynb. Its runs: 1, 2, 3.';
    await model.compareRuns(9, null);
    expect(model.state.compare.error).toBe('Run 9 is not a run of a.ipynb. Its runs: 1, 2, 3.');
    expect(model.state.compare.reply).toBeNull();
    api.failCompare = null;
    await model.compareRuns(1, 2);
    expect(model.state.compare.error).toBeNull();
    expect(model.state.compare.reply?.b.id).toBe(2);

    model.path = 'b.ipynb';
    expect(model.state.compare).toMatchObject({ open: true, a: null, b: null, reply: null });
    expect(model.state.runs).toBeNull();
    const state = await waitFor(model, s => s.compare.reply !== null);
    expect(state.compare.reply?.notebook).toBe('b.ipynb');
    expect(api.calls).toContain('compare:b.ipynb:baseline:latest');
  });

  it('does nothing without a notebook and stops after dispose', async () => {
    await model.startExport();
    expect(api.calls).toEqual([]);
    model.dispose();
    expect(model.isDisposed).toBe(true);
    expect(model.poll.isDisposed).toBe(true);
    model.path = 'a.ipynb';
    expect(api.calls).toEqual([]);
  });
});
