/**
 * The sidebar's half of the contract with the server: the replies the server
 * really sends (recorded into fixtures/replies.json by tests/lab/test_contract.py,
 * which also fails when the server's replies change shape) fit the reply types
 * of tokens.ts.
 *
 * tsc checks the fixture against the reply types (`TYPED` below); at run time
 * every key the interfaces declare as required must be there with the right
 * JSON type (`SCHEMAS`: tsc makes each schema list exactly the interface's
 * required keys with the descriptor its TypeScript type calls for).
 */
import {
  CellState,
  ConfigState,
  ICellDiff,
  ICellsReply,
  IChecklistItem,
  IChecksReply,
  ICheckPair,
  ICheckStats,
  ICompareCell,
  ICompareReply,
  IConfigChange,
  IDriftItem,
  IDriftReply,
  IDriftReport,
  IGitChange,
  IGitFile,
  IJob,
  IJobStarted,
  INotebookStatus,
  IReportItem,
  IRunInfo,
  IRunSide,
  IRunsReply,
  IStatusReply,
  IValidationReport,
  JobKind,
  JobState
} from '../tokens';
import replies from './fixtures/replies.json';

/** A value as JSON.parse gives it: string literal unions are plain strings. */
type Decoded<T> = [T] extends [string]
  ? string
  : T extends readonly (infer U)[]
    ? Decoded<U>[]
    : T extends object
      ? { [K in keyof T]: Decoded<T[K]> }
      : T;

/** The fixture's replies, each assigned to its reply type: tsc checks the fit. */
const TYPED: { [name in keyof typeof replies]: unknown } = {
  status: replies.status satisfies Decoded<IStatusReply>,
  status_empty: replies.status_empty satisfies Decoded<IStatusReply>,
  runs: replies.runs satisfies Decoded<IRunsReply>,
  runs_empty: replies.runs_empty satisfies Decoded<IRunsReply>,
  cells: replies.cells satisfies Decoded<ICellsReply>,
  cells_empty: replies.cells_empty satisfies Decoded<ICellsReply>,
  drift: replies.drift satisfies Decoded<IDriftReply>,
  drift_empty: replies.drift_empty satisfies Decoded<IDriftReply>,
  checks: replies.checks satisfies Decoded<IChecksReply>,
  checks_empty: replies.checks_empty satisfies Decoded<IChecksReply>,
  compare: replies.compare satisfies Decoded<ICompareReply>,
  job_started: replies.job_started satisfies Decoded<IJobStarted>,
  job_export: replies.job_export satisfies Decoded<IJob>,
  job_verify: replies.job_verify satisfies Decoded<IJob>
};

// ---------------------------------------------------------------- schemas

/** A runtime description of a JSON value's type. */
type JsonSpec =
  | 'any'
  | 'boolean'
  | 'number'
  | 'string'
  | { nullable: JsonSpec }
  | { oneOf: readonly string[] }
  | { array: JsonSpec }
  | { record: JsonSpec }
  | { object: { [key: string]: JsonSpec } };

/** The named (not index-signature) keys of T. */
type NamedKeys<T> = keyof {
  [K in keyof T as string extends K ? never : number extends K ? never : K]: T[K];
};

/** The keys T declares as required. */
type RequiredKeys<T> = {
  [K in NamedKeys<T>]-?: Partial<Pick<T, K>> extends Pick<T, K> ? never : K;
}[NamedKeys<T>];

/** One schema per interface: each required key with the descriptor its type calls for. */
type Schema<T> = { [K in RequiredKeys<T>]: Spec<T[K]> };

/** The only JsonSpec that describes the TypeScript type T. */
type Spec<T> = unknown extends T
  ? 'any'
  : null extends T
    ? { nullable: Spec<Exclude<T, null>> }
    : [T] extends [boolean]
      ? 'boolean'
      : [T] extends [number]
        ? 'number'
        : [T] extends [string]
          ? string extends T
            ? 'string'
            : { oneOf: readonly T[] }
          : [T] extends [readonly (infer U)[]]
            ? { array: Spec<U> }
            : [T] extends [object]
              ? string extends keyof T
                ? [RequiredKeys<T>] extends [never]
                  ? { record: Spec<T[string & keyof T]> }
                  : { object: Schema<T> }
                : { object: Schema<T> }
              : never;

const CELL_STATES: readonly CellState[] = ['same', 'different', 'new', 'missing', 'error'];
const JOB_KINDS: readonly JobKind[] = ['export', 'verify'];
const JOB_STATES: readonly JobState[] = ['queued', 'running', 'done', 'failed'];

const RUN_INFO: Spec<IRunInfo> = {
  object: {
    id: 'number',
    run_uuid: 'string',
    notebook: 'string',
    kind: 'string',
    started: 'number',
    ended: { nullable: 'number' },
    n_cells: 'number',
    n_errors: 'number',
    seed: { nullable: { record: 'any' } },
    capture: 'boolean',
    environment_id: { nullable: 'number' },
    git_id: { nullable: 'number' },
    label: { nullable: 'string' },
    is_baseline: 'boolean'
  }
};

const CHECKLIST_ITEM: Spec<IChecklistItem> = {
  object: { name: 'string', ok: { nullable: 'boolean' }, detail: 'string' }
};

const NOTEBOOK_STATUS: Spec<INotebookStatus> = {
  object: {
    notebook: 'string',
    store: 'string',
    has_record: 'boolean',
    session_id: { nullable: 'number' },
    baseline_id: { nullable: 'number' },
    capture: { nullable: 'boolean' },
    seed: { nullable: { record: 'any' } },
    seed_warnings: { array: 'string' },
    checklist: { array: CHECKLIST_ITEM },
    summary: 'string',
    n_runs: 'number',
    score: { object: { passed: 'number', total: 'number' } }
  }
};

const STATUS_REPLY: Spec<IStatusReply> = {
  object: {
    path: 'string',
    revision: 'string',
    notebook: { nullable: 'string' },
    store: { nullable: 'string' },
    recorded: 'boolean',
    n_runs: 'number',
    latest_run: { nullable: RUN_INFO },
    baseline_run: { nullable: RUN_INFO },
    status: { nullable: NOTEBOOK_STATUS }
  }
};

const RUNS_REPLY: Spec<IRunsReply> = {
  object: {
    path: 'string',
    revision: 'string',
    runs: { array: RUN_INFO },
    baseline: { nullable: 'number' }
  }
};

const CELL_DIFF: Spec<ICellDiff> = {
  object: {
    key: 'string',
    index: { nullable: 'number' },
    cell_id: { nullable: 'string' },
    excerpt: 'string',
    state: { oneOf: CELL_STATES },
    rng_differs: { array: 'string' },
    rng_drawn: { array: 'string' },
    generators_differ: { array: 'string' },
    values_differ: { array: 'string' },
    values_new: { array: 'string' },
    values_missing: { array: 'string' },
    files_differ: { array: 'string' },
    error: { nullable: 'string' },
    reason: 'string'
  }
};

const CELLS_REPLY: Spec<ICellsReply> = {
  object: {
    path: 'string',
    revision: 'string',
    run: { nullable: 'number' },
    baseline: { nullable: 'number' },
    total: 'number',
    offset: 'number',
    limit: 'number',
    cells: { array: CELL_DIFF },
    first_divergent: { nullable: CELL_DIFF },
    counts: { object: {} }
  }
};

const DRIFT_ITEM: Spec<IDriftItem> = {
  object: {
    kind: 'string',
    name: 'string',
    before: 'any',
    after: 'any',
    severity: 'string',
    why: 'string',
    imported: 'boolean',
    change: 'string',
    detail: { nullable: 'string' }
  }
};

const DRIFT_REPORT: Spec<IDriftReport> = {
  object: {
    before: 'string',
    after: 'string',
    counts: { record: 'number' },
    summary: 'string',
    items: { array: DRIFT_ITEM }
  }
};

const DRIFT_REPLY: Spec<IDriftReply> = {
  object: {
    path: 'string',
    revision: 'string',
    baseline: { nullable: 'number' },
    run: { nullable: 'number' },
    report: { nullable: DRIFT_REPORT }
  }
};

const CHECK_STATS: Spec<ICheckStats> = {
  object: {
    name: { nullable: 'string' },
    n: 'number',
    mean: { nullable: 'number' },
    std: { nullable: 'number' },
    cv: { nullable: 'number' },
    ci_low: { nullable: 'number' },
    ci_high: { nullable: 'number' },
    confidence: 'number',
    stable: { nullable: 'boolean' }
  }
};

const REPORT_ITEM: Spec<IReportItem> = {
  object: {
    name: 'string',
    status: 'string',
    expected: 'any',
    actual: 'any',
    error: { nullable: { record: 'any' } },
    reason: { nullable: 'string' },
    rtol: { nullable: 'number' },
    atol: { nullable: 'number' },
    cell: 'any',
    stats: { nullable: CHECK_STATS }
  }
};

const VALIDATION_REPORT: Spec<IValidationReport> = {
  object: {
    notebook: { nullable: 'string' },
    session_id: { nullable: 'number' },
    baseline_id: { nullable: 'number' },
    passed: 'boolean',
    counts: { record: 'number' },
    items: { array: REPORT_ITEM }
  }
};

const CHECKS_REPLY: Spec<IChecksReply> = {
  object: {
    path: 'string',
    revision: 'string',
    run: { nullable: 'number' },
    report: { nullable: VALIDATION_REPORT }
  }
};

const CONFIG_STATES: readonly ConfigState[] = ['changed', 'added', 'removed', 'same'];

const RUN_SIDE: Spec<IRunSide> = {
  object: {
    id: 'number',
    title: 'string',
    kind: 'string',
    started: 'number',
    label: { nullable: 'string' },
    seed: 'any',
    commit: { nullable: 'string' },
    branch: { nullable: 'string' },
    dirty: { nullable: 'boolean' },
    python: { nullable: 'string' },
    host: { nullable: 'string' }
  }
};

const CONFIG_CHANGE: Spec<IConfigChange> = {
  object: { key: 'string', before: 'any', after: 'any', state: { oneOf: CONFIG_STATES } }
};

const GIT_FILE: Spec<IGitFile> = {
  object: { path: 'string', added: { nullable: 'number' }, deleted: { nullable: 'number' } }
};

const GIT_CHANGE: Spec<IGitChange> = {
  object: {
    before: { nullable: 'string' },
    after: { nullable: 'string' },
    dirty_before: { nullable: 'boolean' },
    dirty_after: { nullable: 'boolean' },
    same: 'boolean',
    commits: { nullable: 'number' },
    files: { array: GIT_FILE },
    note: { nullable: 'string' },
    summary: 'string'
  }
};

const CHECK_PAIR: Spec<ICheckPair> = {
  object: {
    name: 'string',
    before: 'any',
    after: 'any',
    rtol: { nullable: 'number' },
    atol: { nullable: 'number' },
    verdict: 'string',
    reason: { nullable: 'string' }
  }
};

const COMPARE_CELL: Spec<ICompareCell> = {
  object: { ...CELL_DIFF.object, label: 'string', reason: 'string' }
};

const COMPARE_REPLY: Spec<ICompareReply> = {
  object: {
    path: 'string',
    revision: 'string',
    notebook: 'string',
    summary: 'string',
    a: RUN_SIDE,
    b: RUN_SIDE,
    config: { array: CONFIG_CHANGE },
    config_same: 'number',
    git: GIT_CHANGE,
    drift: DRIFT_REPORT,
    checks: { array: CHECK_PAIR },
    cells: { array: COMPARE_CELL },
    cell_counts: { object: {} }
  }
};

const JOB: Spec<IJob> = {
  object: {
    id: 'string',
    kind: { oneOf: JOB_KINDS },
    path: 'string',
    state: { oneOf: JOB_STATES },
    progress: 'number',
    message: 'string',
    result: { nullable: { record: 'any' } },
    download: { nullable: 'string' },
    created: 'number',
    finished: { nullable: 'number' }
  }
};

const JOB_STARTED: Spec<IJobStarted> = { object: { job: 'string' } };

/** The schema each reply of the fixture must fit. */
const SCHEMAS: { [name in keyof typeof replies]: JsonSpec } = {
  status: STATUS_REPLY,
  status_empty: STATUS_REPLY,
  runs: RUNS_REPLY,
  runs_empty: RUNS_REPLY,
  cells: CELLS_REPLY,
  cells_empty: CELLS_REPLY,
  drift: DRIFT_REPLY,
  drift_empty: DRIFT_REPLY,
  checks: CHECKS_REPLY,
  checks_empty: CHECKS_REPLY,
  compare: COMPARE_REPLY,
  job_started: JOB_STARTED,
  job_export: JOB,
  job_verify: JOB
};

/** Interface names of the schemas: coverage is counted per interface key. */
const INTERFACE_OF = new Map<JsonSpec, string>([
  [RUN_INFO, 'IRunInfo'],
  [CHECKLIST_ITEM, 'IChecklistItem'],
  [NOTEBOOK_STATUS, 'INotebookStatus'],
  [STATUS_REPLY, 'IStatusReply'],
  [RUNS_REPLY, 'IRunsReply'],
  [CELL_DIFF, 'ICellDiff'],
  [CELLS_REPLY, 'ICellsReply'],
  [DRIFT_ITEM, 'IDriftItem'],
  [DRIFT_REPORT, 'IDriftReport'],
  [DRIFT_REPLY, 'IDriftReply'],
  [CHECK_STATS, 'ICheckStats'],
  [REPORT_ITEM, 'IReportItem'],
  [VALIDATION_REPORT, 'IValidationReport'],
  [CHECKS_REPLY, 'IChecksReply'],
  [RUN_SIDE, 'IRunSide'],
  [CONFIG_CHANGE, 'IConfigChange'],
  [GIT_FILE, 'IGitFile'],
  [GIT_CHANGE, 'IGitChange'],
  [CHECK_PAIR, 'ICheckPair'],
  [COMPARE_CELL, 'ICompareCell'],
  [COMPARE_REPLY, 'ICompareReply'],
  [JOB, 'IJob'],
  [JOB_STARTED, 'IJobStarted']
]);

// ---------------------------------------------------------------- checking

function jsonType(value: unknown): string {
  if (value === null) {
    return 'null';
  }
  return Array.isArray(value) ? 'array' : typeof value;
}

/** Where a check stands: the value's key path and the interface key it fills. */
interface IPlace {
  path: string;
  key: string;
}

/** The place one step down, into a value described by `spec`. */
function below(place: IPlace, spec: JsonSpec, step: string): IPlace {
  const name = INTERFACE_OF.get(
    typeof spec === 'object' && 'nullable' in spec ? spec.nullable : spec
  );
  return { path: `${place.path}${step}`, key: name ?? `${place.key}${step}` };
}

/**
 * Check a decoded JSON value against a spec.
 *
 * @param value - the value
 * @param spec - what the reply types say it is
 * @param place - where the value sits
 * @param problems - receives one line per mismatch, naming the key path
 * @param filled - receives the interface keys met with a value other than null
 */
function check(
  value: unknown,
  spec: JsonSpec,
  place: IPlace,
  problems: string[],
  filled: Set<string>
): void {
  if (spec === 'any') {
    return;
  }
  if (typeof spec === 'object' && 'nullable' in spec) {
    if (value !== null) {
      check(value, spec.nullable, place, problems, filled);
    }
    return;
  }
  filled.add(place.key);
  const type = jsonType(value);
  if (typeof spec === 'string') {
    if (type !== spec) {
      problems.push(`${place.path}: expected ${spec}, got ${type}`);
    }
  } else if ('oneOf' in spec) {
    if (typeof value !== 'string' || !spec.oneOf.includes(value)) {
      problems.push(
        `${place.path}: expected one of ${spec.oneOf.join(', ')}, got ${String(value)}`
      );
    }
  } else if ('array' in spec) {
    if (!Array.isArray(value)) {
      problems.push(`${place.path}: expected array, got ${type}`);
    } else {
      const inner = below(place, spec.array, '[]');
      value.forEach(item => check(item, spec.array, inner, problems, filled));
    }
  } else if (type !== 'object') {
    problems.push(`${place.path}: expected object, got ${type}`);
  } else if ('record' in spec) {
    const inner = below(place, spec.record, '{}');
    for (const item of Object.values(value as Record<string, unknown>)) {
      check(item, spec.record, inner, problems, filled);
    }
  } else {
    const object = value as Record<string, unknown>;
    for (const [key, item] of Object.entries(spec.object)) {
      if (!(key in object)) {
        problems.push(`${place.path}.${key}: missing`);
      } else {
        check(object[key], item, below(place, item, `.${key}`), problems, filled);
      }
    }
  }
}

/** Every interface key a spec declares with a JSON type (not `any`). */
function declaredKeys(spec: JsonSpec, key: string, into: Set<string>): Set<string> {
  if (spec === 'any') {
    return into;
  }
  if (typeof spec === 'object' && 'nullable' in spec) {
    return declaredKeys(spec.nullable, key, into);
  }
  if (into.has(key)) {
    return into;
  }
  into.add(key);
  const place = { path: '', key };
  if (typeof spec === 'object' && 'array' in spec) {
    declaredKeys(spec.array, below(place, spec.array, '[]').key, into);
  } else if (typeof spec === 'object' && 'record' in spec) {
    declaredKeys(spec.record, below(place, spec.record, '{}').key, into);
  } else if (typeof spec === 'object' && 'object' in spec) {
    for (const [name, item] of Object.entries(spec.object)) {
      declaredKeys(item, below(place, item, `.${name}`).key, into);
    }
  }
  return into;
}

/**
 * Interface keys no reply of the fixture fills (always null, or only in empty
 * arrays), so only tsc checks them. The recorded store has no run labels, no
 * cell whose RNG, files or set of values changed, and both runs' commits are
 * in the repository (so the comparison has no git note). A key that newly
 * lands here means the server stopped filling it.
 */
const NEVER_FILLED = [
  'ICellDiff.files_differ[]',
  'ICellDiff.generators_differ[]',
  'ICellDiff.rng_differs[]',
  'ICellDiff.rng_drawn[]',
  'ICellDiff.values_missing[]',
  'ICellDiff.values_new[]',
  'ICompareCell.files_differ[]',
  'ICompareCell.generators_differ[]',
  'ICompareCell.rng_differs[]',
  'ICompareCell.rng_drawn[]',
  'ICompareCell.values_missing[]',
  'ICompareCell.values_new[]',
  'IGitChange.note',
  'IRunInfo.label',
  'IRunSide.label'
];

describe('the server replies recorded by tests/lab/test_contract.py', () => {
  const names = Object.keys(SCHEMAS) as (keyof typeof replies)[];

  it.each(names)('%s has every key tokens.ts requires, with its JSON type', name => {
    const problems: string[] = [];
    const place = { path: name, key: INTERFACE_OF.get(SCHEMAS[name]) ?? name };
    check(TYPED[name], SCHEMAS[name], place, problems, new Set());
    expect(problems).toEqual([]);
  });

  it('holds a value for every typed key, so the runtime checks are not vacuous', () => {
    const filled = new Set<string>();
    const declared = new Set<string>();
    for (const name of names) {
      const key = INTERFACE_OF.get(SCHEMAS[name]) ?? name;
      check(TYPED[name], SCHEMAS[name], { path: name, key }, [], filled);
      declaredKeys(SCHEMAS[name], key, declared);
    }
    expect([...declared].filter(key => !filled.has(key)).sort()).toEqual(NEVER_FILLED);
  });

  it('has a schema for each reply and a reply for each schema', () => {
    expect(Object.keys(replies).sort()).toEqual(Object.keys(SCHEMAS).sort());
  });
});
