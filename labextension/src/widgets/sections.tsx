import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import {
  ICellDiff,
  ICellsReply,
  ICheckStats,
  IChecksReply,
  IDriftItem,
  IDriftReply,
  IJob,
  IReproState,
  ISeedRecord,
  IStatusReply,
  JobKind
} from '../tokens';
import { formatAgo, formatValue, severityClass, severityRank } from './format';

/** Props shared by the sections. */
interface ISectionProps {
  trans: TranslationBundle;
}

function Section(props: {
  name: string;
  title: string;
  children?: React.ReactNode;
  error?: string;
  /** The section's data has not arrived yet. */
  loading?: boolean;
  loadingText?: string;
}): JSX.Element {
  let body: React.ReactNode = props.children;
  if (props.error) {
    body = <div className="jp-repro-section-error">{props.error}</div>;
  } else if (props.loading) {
    body = <div className="jp-repro-none jp-repro-section-loading">{props.loadingText}</div>;
  }
  return (
    <section className={`jp-repro-section jp-repro-${props.name}`} data-section={props.name}>
      <h3 className="jp-repro-section-title">{props.title}</h3>
      {body}
    </section>
  );
}

function Mark(props: { ok: boolean | null | undefined }): JSX.Element {
  if (props.ok === true) {
    return <span className="jp-repro-mark jp-repro-pass">✓</span>;
  }
  if (props.ok === false) {
    return <span className="jp-repro-mark jp-repro-fail">✗</span>;
  }
  return <span className="jp-repro-mark jp-repro-unknown">?</span>;
}

function seedText(trans: TranslationBundle, seed: ISeedRecord | null | undefined): string {
  const requested = seed?.requested ?? null;
  if (!requested || requested.seed === undefined) {
    return trans.__('not seeded');
  }
  const effective = seed?.effective?.seed;
  return effective === undefined || effective === null || effective === requested.seed
    ? trans.__('%1', requested.seed)
    : trans.__('requested %1, effective %2', requested.seed, formatValue(effective));
}

function deterministicText(trans: TranslationBundle, seed: ISeedRecord | null | undefined): string {
  const requested = seed?.requested?.deterministic;
  const effective = seed?.effective?.deterministic_algorithms;
  if (!requested) {
    return trans.__('not requested');
  }
  if (effective === true) {
    return trans.__('requested, effective');
  }
  if (effective === false) {
    return trans.__('requested, NOT effective');
  }
  return trans.__('requested (no torch)');
}

/** Seed, capture, the checklist and the last run vs baseline. */
export function StatusSection(props: ISectionProps & { status: IStatusReply }): JSX.Element {
  const { trans } = props;
  const reply = props.status;
  const status = reply.status;
  const seed = status?.seed ?? null;
  const latest = reply.latest_run;
  const baseline = reply.baseline_run;
  const warnings = status?.seed_warnings ?? [];
  return (
    <Section name="status" title={trans.__('Status')}>
      <dl className="jp-repro-facts">
        <dt>{trans.__('Seed')}</dt>
        <dd className="jp-repro-seed">{seedText(trans, seed)}</dd>
        <dt>{trans.__('Deterministic')}</dt>
        <dd className="jp-repro-deterministic">{deterministicText(trans, seed)}</dd>
        <dt>{trans.__('Capture')}</dt>
        <dd className="jp-repro-capture">
          {status?.capture === true
            ? trans.__('on')
            : status?.capture === false
              ? trans.__('off')
              : '—'}
        </dd>
        <dt>{trans.__('Runs')}</dt>
        <dd className="jp-repro-runs">
          {trans.__('%1 recorded', reply.n_runs)}
          {latest
            ? ` · ${trans.__('latest run %1, %2', latest.id, formatAgo(latest.started))}`
            : ''}
        </dd>
        <dt>{trans.__('Baseline')}</dt>
        <dd className="jp-repro-baseline">
          {baseline ? trans.__('run %1 (%2)', baseline.id, formatAgo(baseline.started)) : '—'}
        </dd>
      </dl>
      {warnings.length > 0 && (
        <ul className="jp-repro-warnings">
          {warnings.map((w, i) => (
            <li key={i} title={w}>
              {w}
            </li>
          ))}
        </ul>
      )}
      {status?.summary && <p className="jp-repro-summary">{status.summary}</p>}
      {status && status.checklist.length > 0 && (
        <>
          <div className="jp-repro-score">
            {trans.__('Checklist %1/%2', status.score.passed, status.score.total)}
          </div>
          <ul className="jp-repro-checklist">
            {status.checklist.map(item => (
              <li
                key={item.name}
                className={`jp-repro-checklist-item ${
                  item.ok === true ? 'jp-repro-ok' : item.ok === false ? 'jp-repro-notok' : ''
                }`}
                data-name={item.name}
                title={item.detail}
              >
                <Mark ok={item.ok} /> <span className="jp-repro-check-label">{item.name}</span>
                {item.detail && <span className="jp-repro-detail"> — {item.detail}</span>}
              </li>
            ))}
          </ul>
        </>
      )}
    </Section>
  );
}

/** Environment drift, imported packages first, coloured by severity. */
export function DriftSection(
  props: ISectionProps & { drift: IDriftReply | null; error?: string }
): JSX.Element {
  const { trans, drift } = props;
  const report = drift?.report ?? null;
  const items: IDriftItem[] = report ? [...report.items] : [];
  // Imported packages first (what the notebook actually uses), then by severity.
  items.sort(
    (a, b) =>
      Number(!a.imported) - Number(!b.imported) ||
      severityRank(a.severity) - severityRank(b.severity) ||
      a.kind.localeCompare(b.kind) ||
      a.name.localeCompare(b.name)
  );
  let empty: string | null = null;
  if (drift !== null && report === null) {
    empty =
      drift.baseline === null || drift.run === null
        ? trans.__('No run recorded yet.')
        : trans.__('No environment recorded for the baseline or the latest run.');
  } else if (report !== null && items.length === 0) {
    empty =
      drift?.baseline === drift?.run
        ? trans.__('Only the baseline run is recorded: nothing to compare yet.')
        : trans.__('No drift: the environment matches the baseline.');
  }
  return (
    <Section
      name="drift"
      title={trans.__('Drift since baseline')}
      error={props.error}
      loading={drift === null}
      loadingText={trans.__('Loading…')}
    >
      {drift === null ? null : empty !== null ? (
        <p className="jp-repro-none">{empty}</p>
      ) : (
        <>
          <div className="jp-repro-drift-summary">
            {trans.__('%1 → %2:', report?.before ?? '', report?.after ?? '')}{' '}
            {Object.entries(report?.summary ?? {})
              .filter(([, n]) => n > 0)
              .map(([severity, n]) => (
                <span key={severity} className={`jp-repro-count ${severityClass(severity)}`}>
                  {trans.__('%1 %2', n, severity)}{' '}
                </span>
              ))}
          </div>
          <ul className="jp-repro-drift-list">
            {items.map((item, i) => (
              <li
                key={`${item.kind}-${item.name}-${i}`}
                className={`jp-repro-drift-item ${severityClass(item.severity)}`}
                data-name={item.name}
                data-severity={item.severity}
                title={item.detail ? `${item.detail}. ${item.why}` : item.why}
              >
                <span className="jp-repro-badge">{item.severity}</span>{' '}
                <span className="jp-repro-drift-name">
                  {item.kind === 'package' ? item.name : `${item.kind}: ${item.name}`}
                </span>
                {item.imported && (
                  <span className="jp-repro-imported"> {trans.__('imported')}</span>
                )}
                <span className="jp-repro-drift-change">
                  {' '}
                  {formatValue(item.before, 30)} → {formatValue(item.after, 30)}
                </span>
              </li>
            ))}
          </ul>
        </>
      )}
    </Section>
  );
}

const CHECK_MARK: Record<string, boolean | null> = { pass: true, fail: false };

/** Checks of the latest run vs the baseline with numbers, plus stats over runs. */
export function ChecksSection(
  props: ISectionProps & { checks: IChecksReply | null; error?: string }
): JSX.Element {
  const { trans, checks } = props;
  const report = checks?.report ?? null;
  const items = report?.items ?? [];
  const counts = report?.counts ?? {};
  const withStats = items.filter(item => item.stats !== null);
  return (
    <Section
      name="checks"
      title={trans.__('Validation')}
      error={props.error}
      loading={checks === null}
      loadingText={trans.__('Loading…')}
    >
      {checks === null ? null : items.length === 0 ? (
        <p className="jp-repro-none">
          {trans.__(
            'No checks recorded. Add one with %repro_check NAME VALUE or repro_nb.check().'
          )}
        </p>
      ) : (
        <>
          <div
            className={`jp-repro-checks-summary ${report?.passed ? 'jp-repro-passed' : 'jp-repro-failed'}`}
          >
            {trans.__(
              '%1 pass, %2 fail, %3 new, %4 missing',
              counts.pass ?? 0,
              counts.fail ?? 0,
              counts.new ?? 0,
              counts.missing ?? 0
            )}
          </div>
          <table className="jp-repro-table">
            <thead>
              <tr>
                <th />
                <th>{trans.__('Check')}</th>
                <th>{trans.__('Value')}</th>
                <th>{trans.__('Expected')}</th>
              </tr>
            </thead>
            <tbody>
              {items.map(item => (
                <tr
                  key={item.name}
                  className={`jp-repro-check-row jp-repro-check-${item.status}`}
                  data-name={item.name}
                  data-status={item.status}
                  title={[
                    item.reason ?? '',
                    item.rtol !== null || item.atol !== null
                      ? trans.__('rtol %1, atol %2', formatValue(item.rtol), formatValue(item.atol))
                      : ''
                  ]
                    .filter(Boolean)
                    .join(' · ')}
                >
                  <td>
                    <Mark ok={item.status in CHECK_MARK ? CHECK_MARK[item.status] : null} />
                  </td>
                  <td className="jp-repro-check-name">
                    {item.name}
                    {item.status === 'new' || item.status === 'missing' ? (
                      <span className="jp-repro-detail"> ({item.status})</span>
                    ) : null}
                  </td>
                  <td className="jp-repro-check-actual">{formatValue(item.actual, 24)}</td>
                  <td className="jp-repro-check-expected">{formatValue(item.expected, 24)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {withStats.length > 0 && (
            <table className="jp-repro-table jp-repro-stats">
              <thead>
                <tr>
                  <th>{trans.__('Over runs')}</th>
                  <th>{trans.__('mean ± std (n)')}</th>
                  <th title={trans.__('stable over runs')}>{trans.__('ok')}</th>
                </tr>
              </thead>
              <tbody>
                {withStats.map(item => {
                  const s = item.stats as ICheckStats;
                  return (
                    <tr key={item.name} data-name={item.name}>
                      <td>{item.name}</td>
                      <td
                        title={
                          s.ci_low !== null
                            ? trans.__(
                                '95%% CI %1 … %2',
                                formatValue(s.ci_low),
                                formatValue(s.ci_high)
                              )
                            : ''
                        }
                      >
                        {formatValue(s.mean)} ± {formatValue(s.std)} ({s.n})
                      </td>
                      <td>
                        <Mark ok={s.stable} />
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )}
        </>
      )}
    </Section>
  );
}

const CELL_LIMIT = 300;

/** This run's cells vs the baseline; a click reveals the cell. */
export function CellsSection(
  props: ISectionProps & {
    cells: ICellsReply | null;
    error?: string;
    onReveal: (cell: ICellDiff) => void;
    /** The cell's 1-based position in the open notebook, when it is there. */
    cellNumber?: (cell: ICellDiff) => number | null;
  }
): JSX.Element {
  const { trans, cells } = props;
  const [showAll, setShowAll] = React.useState(false);
  const first = cells?.first_divergent ?? null;
  const rows = cells ? (showAll ? cells.cells : cells.cells.slice(0, CELL_LIMIT)) : [];
  const cellLabel = (cell: ICellDiff): string => {
    const number = props.cellNumber ? props.cellNumber(cell) : null;
    return number !== null ? `[${number}]` : cell.index !== null ? `#${cell.index}` : '[ ]';
  };
  return (
    <Section
      name="cells"
      title={trans.__('Cells vs baseline')}
      error={props.error}
      loading={cells === null}
      loadingText={trans.__('Loading…')}
    >
      {cells === null ? null : cells.cells.length === 0 ? (
        <p className="jp-repro-none">{trans.__('No cells recorded in this run.')}</p>
      ) : (
        <>
          <div className="jp-repro-cells-summary">
            {first
              ? trans.__('First divergent cell: %1 %2', cellLabel(first), first.excerpt)
              : cells.baseline === cells.run
                ? trans.__('This run is the baseline.')
                : trans.__('All cells match the baseline.')}
          </div>
          <ul className="jp-repro-cell-list">
            {rows.map((cell, i) => {
              const isFirst = first !== null && cell.key === first.key;
              const details = [
                ...cell.rng_differs.map(g => trans.__('RNG %1', g)),
                ...cell.values_differ.map(v => trans.__('value %1', v)),
                ...cell.files_differ.map(f => trans.__('file %1', f)),
                ...(cell.error ? [cell.error] : [])
              ];
              return (
                <li
                  key={`${cell.key}-${i}`}
                  className={`jp-repro-cell jp-repro-state-${cell.state}${
                    isFirst ? ' jp-repro-first-divergent' : ''
                  }`}
                  data-key={cell.key}
                  data-cell-id={cell.cell_id ?? ''}
                  title={details.join('; ')}
                  onClick={() => props.onReveal(cell)}
                >
                  <span className="jp-repro-cell-index">{cellLabel(cell)}</span>
                  <span className="jp-repro-cell-excerpt">{cell.excerpt}</span>
                  <span className="jp-repro-badge jp-repro-cell-state">{cell.state}</span>
                </li>
              );
            })}
          </ul>
          {!showAll && cells.cells.length > CELL_LIMIT && (
            <button className="jp-repro-link-button" onClick={() => setShowAll(true)}>
              {trans.__('Show all %1 cells', cells.cells.length)}
            </button>
          )}
          {(showAll || cells.cells.length <= CELL_LIMIT) && cells.total > cells.cells.length && (
            <p className="jp-repro-none">
              {trans.__(
                '%1 more cells of this run are not loaded.',
                cells.total - cells.cells.length
              )}
            </p>
          )}
        </>
      )}
    </Section>
  );
}

function JobView(props: ISectionProps & { job: IJob; downloadURL: string | null }): JSX.Element {
  const { trans, job } = props;
  const result = job.result ?? {};
  const verdict = typeof result.verdict === 'string' ? result.verdict : null;
  return (
    <div
      className={`jp-repro-job jp-repro-job-${job.kind} jp-repro-job-${job.state}`}
      data-state={job.state}
    >
      {(job.state === 'queued' || job.state === 'running') && (
        <progress className="jp-repro-progress" max={1} value={job.progress} />
      )}
      <div className="jp-repro-job-message">{job.message}</div>
      {job.state === 'done' && verdict && (
        <div
          className={`jp-repro-verdict ${
            verdict.startsWith('reproduced')
              ? 'jp-repro-verdict-ok'
              : verdict === 'diverged'
                ? 'jp-repro-verdict-diverged'
                : 'jp-repro-verdict-error'
          }`}
          data-verdict={verdict}
        >
          {verdict}
        </div>
      )}
      {job.state === 'done' && props.downloadURL && (
        <a className="jp-repro-download" href={props.downloadURL} download>
          {trans.__('Download bundle')}
        </a>
      )}
    </div>
  );
}

/** Export and Verify buttons with their jobs. */
export function ActionsSection(
  props: ISectionProps & {
    state: IReproState;
    onStart: (kind: JobKind) => void;
    downloadURL: (job: IJob) => string;
  }
): JSX.Element {
  const { trans, state } = props;
  const kinds: [JobKind, string][] = [
    ['export', trans.__('Export')],
    ['verify', trans.__('Verify')]
  ];
  return (
    <Section name="actions" title={trans.__('Export and verify')}>
      {kinds.map(([kind, label]) => {
        const job = state.jobs[kind];
        const busy = job !== undefined && (job.state === 'queued' || job.state === 'running');
        return (
          <div key={kind} className="jp-repro-action">
            <button
              className={`jp-Button jp-mod-styled jp-mod-accept jp-repro-${kind}-button`}
              disabled={busy || state.path === null}
              onClick={() => props.onStart(kind)}
            >
              {label}
            </button>
            {job && (
              <JobView
                trans={trans}
                job={job}
                downloadURL={job.kind === 'export' && job.download ? props.downloadURL(job) : null}
              />
            )}
            {state.jobErrors[kind] && (
              <div className="jp-repro-section-error">{state.jobErrors[kind]}</div>
            )}
          </div>
        );
      })}
    </Section>
  );
}
