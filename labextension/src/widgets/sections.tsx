import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import {
  ICellDiff,
  ICellsReply,
  IChecksReply,
  IDriftItem,
  IDriftReply,
  IJob,
  IReproState,
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
}): JSX.Element {
  return (
    <section className={`jp-repro-section jp-repro-${props.name}`} data-section={props.name}>
      <h3 className="jp-repro-section-title">{props.title}</h3>
      {props.error ? <div className="jp-repro-section-error">{props.error}</div> : props.children}
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

/** Seed, capture, the checklist and the last run vs baseline. */
export function StatusSection(
  props: ISectionProps & { status: IStatusReply }
): JSX.Element {
  const { trans } = props;
  const reply = props.status;
  const status = reply.status ?? {};
  const seed = status.seed ?? null;
  const checklist = status.checklist ?? [];
  const latest = reply.latest_run;
  const baseline = reply.baseline_run;
  return (
    <Section name="status" title={trans.__('Status')}>
      <dl className="jp-repro-facts">
        <dt>{trans.__('Seed')}</dt>
        <dd className="jp-repro-seed">
          {seed && seed.requested !== undefined && seed.requested !== null
            ? trans.__('requested %1, effective %2', formatValue(seed.requested), formatValue(seed.effective))
            : trans.__('not seeded')}
        </dd>
        <dt>{trans.__('Capture')}</dt>
        <dd className="jp-repro-capture">
          {status.capture === true ? trans.__('on') : status.capture === false ? trans.__('off') : '—'}
        </dd>
        <dt>{trans.__('Runs')}</dt>
        <dd className="jp-repro-runs">
          {trans.__('%1 recorded', reply.n_runs)}
          {latest ? ` · ${trans.__('latest %1', formatAgo(latest.started))}` : ''}
        </dd>
        <dt>{trans.__('Baseline')}</dt>
        <dd className="jp-repro-baseline">
          {baseline ? trans.__('run %1 (%2)', baseline.id, formatAgo(baseline.started)) : '—'}
        </dd>
      </dl>
      {seed?.warnings && seed.warnings.length > 0 && (
        <ul className="jp-repro-warnings">
          {seed.warnings.map((w, i) => (
            <li key={i}>{w}</li>
          ))}
        </ul>
      )}
      {status.last_run && <p className="jp-repro-lastrun">{status.last_run}</p>}
      {checklist.length > 0 && (
        <ul className="jp-repro-checklist">
          {checklist.map((item, i) => (
            <li key={item.key ?? i} title={item.fix ?? item.detail ?? ''}>
              <Mark ok={item.ok} /> <span className="jp-repro-check-label">{item.label}</span>
              {item.detail && <span className="jp-repro-detail"> — {item.detail}</span>}
            </li>
          ))}
        </ul>
      )}
      {typeof status.score === 'number' && (
        <div className="jp-repro-score">{trans.__('Score: %1', formatValue(status.score))}</div>
      )}
    </Section>
  );
}

/** Environment drift, imported packages first, coloured by severity. */
export function DriftSection(
  props: ISectionProps & { drift: IDriftReply | null; error?: string }
): JSX.Element {
  const { trans, drift } = props;
  const items: IDriftItem[] = drift ? [...drift.items] : [];
  items.sort(
    (a, b) =>
      Number(!a.imported) - Number(!b.imported) ||
      severityRank(a.severity) - severityRank(b.severity) ||
      a.item.localeCompare(b.item)
  );
  return (
    <Section name="drift" title={trans.__('Drift since baseline')} error={props.error}>
      {drift === null ? null : items.length === 0 ? (
        <p className="jp-repro-none">
          {drift.baseline === null || drift.run === null || drift.baseline === drift.run
            ? trans.__('Only one run recorded: nothing to compare yet.')
            : trans.__('No drift: the environment matches the baseline.')}
        </p>
      ) : (
        <ul className="jp-repro-drift-list">
          {items.map((item, i) => (
            <li
              key={`${item.item}-${i}`}
              className={`jp-repro-drift-item ${severityClass(item.severity)}`}
              title={item.why ?? ''}
            >
              <span className="jp-repro-badge">{item.severity}</span>{' '}
              <span className="jp-repro-drift-name">{item.item}</span>
              {item.imported && <span className="jp-repro-imported"> {trans.__('imported')}</span>}
              <span className="jp-repro-drift-change">
                {' '}
                {formatValue(item.before, 30)} → {formatValue(item.after, 30)}
              </span>
            </li>
          ))}
        </ul>
      )}
    </Section>
  );
}

/** Recorded checks with pass/fail and numbers, plus multi-run stats. */
export function ChecksSection(
  props: ISectionProps & { checks: IChecksReply | null; error?: string }
): JSX.Element {
  const { trans, checks } = props;
  return (
    <Section name="checks" title={trans.__('Validation')} error={props.error}>
      {checks === null ? null : checks.checks.length === 0 ? (
        <p className="jp-repro-none">
          {trans.__('No checks recorded. Add one with %repro_check or repro_nb.check().')}
        </p>
      ) : (
        <>
          <div className="jp-repro-checks-summary">
            {trans.__('%1 passed, %2 failed', checks.passed, checks.failed)}
            {checks.unknown > 0 ? trans.__(', %1 without expectation', checks.unknown) : ''}
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
              {checks.checks.map(check => (
                <tr
                  key={check.id}
                  className={`jp-repro-check-row ${
                    check.passed === false ? 'jp-repro-failed' : check.passed ? 'jp-repro-passed' : ''
                  }`}
                  title={
                    check.rtol !== null || check.atol !== null
                      ? trans.__('rtol %1, atol %2', formatValue(check.rtol), formatValue(check.atol))
                      : ''
                  }
                >
                  <td>
                    <Mark ok={check.passed} />
                  </td>
                  <td className="jp-repro-check-name">{check.name}</td>
                  <td>{formatValue(check.value, 24)}</td>
                  <td>{formatValue(check.expected, 24)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {checks.stats.length > 0 && (
            <table className="jp-repro-table jp-repro-stats">
              <thead>
                <tr>
                  <th>{trans.__('Over runs')}</th>
                  <th>n</th>
                  <th>{trans.__('mean ± std')}</th>
                </tr>
              </thead>
              <tbody>
                {checks.stats.map(s => (
                  <tr key={s.name}>
                    <td>{s.name}</td>
                    <td>{s.n}</td>
                    <td>
                      {formatValue(s.mean)} ± {formatValue(s.std)}
                    </td>
                  </tr>
                ))}
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
  }
): JSX.Element {
  const { trans, cells } = props;
  const [showAll, setShowAll] = React.useState(false);
  const first = cells?.first_divergent ?? null;
  const rows = cells ? (showAll ? cells.cells : cells.cells.slice(0, CELL_LIMIT)) : [];
  return (
    <Section name="cells" title={trans.__('Cells vs baseline')} error={props.error}>
      {cells === null ? null : cells.cells.length === 0 ? (
        <p className="jp-repro-none">{trans.__('No cells recorded in this run.')}</p>
      ) : (
        <>
          <div className="jp-repro-cells-summary">
            {first
              ? trans.__(
                  'First divergent cell: %1',
                  first.index !== null ? `[${first.index}]` : first.key
                )
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
                  <span className="jp-repro-cell-index">
                    {cell.index !== null ? `[${cell.index}]` : '[ ]'}
                  </span>
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
    <div className={`jp-repro-job jp-repro-job-${job.kind} jp-repro-job-${job.state}`} data-state={job.state}>
      {(job.state === 'queued' || job.state === 'running') && (
        <progress className="jp-repro-progress" max={1} value={job.progress} />
      )}
      <span className="jp-repro-job-message">{job.message}</span>
      {job.state === 'done' && verdict && (
        <span className={`jp-repro-verdict jp-repro-verdict-${verdict}`}> {verdict}</span>
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
            {state.jobErrors[kind] && <div className="jp-repro-section-error">{state.jobErrors[kind]}</div>}
          </div>
        );
      })}
    </Section>
  );
}
