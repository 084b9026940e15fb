import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { compareView, defaultPair, runOptionLabel, verdictTone } from '../../compare';
import {
  ICellDiff,
  ICompareCell,
  ICompareReply,
  ICompareState,
  IRunInfo,
  IRunsReply
} from '../../tokens';
import { runName } from '../../verdict';
import { formatValue } from '../format';
import { DriftList } from './drift';
import { ISectionProps, Mark } from './section';

/** Differing cells listed before a "show all" button. */
const CELL_LIMIT = 200;
/** Changed files listed (the rest are counted). */
const FILE_LIMIT = 100;

/** A part of the comparison: a collapsible block whose header carries its count. */
function Part(props: {
  name: string;
  title: string;
  count: string;
  /** Open at first (the user may close it; it stays so while the section is shown). */
  open?: boolean;
  children: React.ReactNode;
}): JSX.Element {
  return (
    <details
      className={`jp-repro-compare-part jp-repro-compare-${props.name}`}
      data-part={props.name}
      open={props.open ?? true}
    >
      <summary className="jp-repro-compare-part-title">
        {props.title}
        {props.count && <span className="jp-repro-count"> {props.count}</span>}
      </summary>
      {props.children}
    </details>
  );
}

/** One run picker (A or B): every run of the notebook, oldest first. */
function RunPicker(props: {
  side: 'a' | 'b';
  label: string;
  runs: IRunInfo[];
  value: number | null;
  onChange: (id: number) => void;
}): JSX.Element {
  return (
    <label className="jp-repro-compare-picker">
      <span className="jp-repro-compare-side">{props.label}</span>
      <select
        className={`jp-mod-styled jp-repro-compare-${props.side}`}
        value={props.value === null ? '' : String(props.value)}
        onChange={event => props.onChange(Number(event.currentTarget.value))}
      >
        {props.value === null && <option value="" />}
        {props.runs.map(run => (
          <option key={run.id} value={String(run.id)}>
            {runOptionLabel(run)}
          </option>
        ))}
      </select>
    </label>
  );
}

function Comparison(props: {
  trans: TranslationBundle;
  reply: ICompareReply;
  onReveal: (cell: ICellDiff) => void;
  cellLabel?: (cell: ICellDiff) => string;
}): JSX.Element {
  const { trans, reply } = props;
  const view = compareView(reply);
  const [allCells, setAllCells] = React.useState(false);
  const a = trans.__('A (%1)', runName(reply.a.id, reply.a.number));
  const b = trans.__('B (%1)', runName(reply.b.id, reply.b.number));
  const cells = allCells ? reply.cells : reply.cells.slice(0, CELL_LIMIT);
  const label = (cell: ICompareCell): string =>
    props.cellLabel ? props.cellLabel(cell) : cell.label;
  const driftCount = [
    view.driftMajor ? trans.__('%1 major', view.driftMajor) : '',
    view.driftMinor ? trans.__('%1 minor', view.driftMinor) : ''
  ]
    .filter(Boolean)
    .join(', ');
  return (
    <>
      <div className="jp-repro-compare-summary" title={`${reply.a.title}\n${reply.b.title}`}>
        {reply.summary}
      </div>

      <Part
        name="config"
        title={trans.__('Configuration')}
        count={trans.__('%1 differ, %2 same', view.configDiffer, view.configSame)}
      >
        {reply.config.length === 0 ? (
          <p className="jp-repro-none">
            {view.configSame === 0
              ? trans.__('No configuration recorded in either run.')
              : trans.__('All configuration values are equal.')}
          </p>
        ) : (
          <table className="jp-repro-table jp-repro-compare-table">
            <thead>
              <tr>
                <th>{trans.__('Key')}</th>
                <th>{a}</th>
                <th>{b}</th>
              </tr>
            </thead>
            <tbody>
              {reply.config.map(change => (
                <tr
                  key={change.key}
                  className={`jp-repro-config-row jp-repro-config-${change.state}`}
                  data-key={change.key}
                  data-state={change.state}
                >
                  <td className="jp-repro-config-key" title={change.key}>
                    {change.key}
                  </td>
                  <td className="jp-repro-compare-value" title={formatValue(change.before, 2000)}>
                    {formatValue(change.before, 40)}
                  </td>
                  <td className="jp-repro-compare-value" title={formatValue(change.after, 2000)}>
                    {formatValue(change.after, 40)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Part>

      <Part
        name="git"
        title={trans.__('Git')}
        count={
          reply.git.same
            ? trans.__('same')
            : view.gitFiles
              ? trans.__('%1 files', view.gitFiles)
              : trans.__('differs')
        }
      >
        <p className="jp-repro-compare-git-summary">{reply.git.summary}</p>
        {view.gitFiles > 0 && (
          <details className="jp-repro-compare-files">
            <summary>
              {trans.__(
                '%1 changed files (+%2 −%3)',
                view.gitFiles,
                view.gitAdded,
                view.gitDeleted
              )}
            </summary>
            <ul className="jp-repro-compare-file-list">
              {reply.git.files.slice(0, FILE_LIMIT).map(file => (
                <li key={file.path} title={file.path}>
                  <span className="jp-repro-compare-file">{file.path}</span>{' '}
                  <span className="jp-repro-detail">
                    +{file.added ?? 0} −{file.deleted ?? 0}
                  </span>
                </li>
              ))}
            </ul>
            {view.gitFiles > FILE_LIMIT && (
              <p className="jp-repro-none">
                {trans.__('%1 more files', view.gitFiles - FILE_LIMIT)}
              </p>
            )}
          </details>
        )}
      </Part>

      <Part
        name="environment"
        title={trans.__('Environment')}
        count={driftCount || trans.__('no drift')}
      >
        {view.drift.length === 0 && (
          <p className="jp-repro-none">{trans.__('No major or minor drift.')}</p>
        )}
        {view.drift.length > 0 && <DriftList items={view.drift} trans={trans} />}
        {view.driftInfo.length > 0 && (
          <details className="jp-repro-compare-info">
            <summary>{trans.__('%1 info-level items', view.driftInfo.length)}</summary>
            <DriftList items={view.driftInfo} trans={trans} plain />
          </details>
        )}
      </Part>

      <Part
        name="checks"
        title={trans.__('Checks')}
        count={
          view.checks === 0
            ? trans.__('none')
            : trans.__('%1 of %2 differ', view.checksOff.length, view.checks)
        }
      >
        {reply.checks.length === 0 ? (
          <p className="jp-repro-none">{trans.__('No checks in either run.')}</p>
        ) : (
          <ul className="jp-repro-compare-check-list">
            {reply.checks.map(check => {
              const tone = verdictTone(check.verdict);
              const tolerance =
                check.rtol !== null || check.atol !== null
                  ? trans.__('rtol %1, atol %2', formatValue(check.rtol), formatValue(check.atol))
                  : '';
              return (
                <li
                  key={check.name}
                  className={`jp-repro-compare-check jp-repro-verdict-tone-${tone}`}
                  data-name={check.name}
                  data-verdict={check.verdict}
                  title={tolerance}
                >
                  <div className="jp-repro-compare-check-head">
                    <Mark ok={tone === 'ok' ? true : tone === 'fail' ? false : null} />{' '}
                    <span className="jp-repro-check-label">{check.name}</span>{' '}
                    <span className="jp-repro-compare-values">
                      {formatValue(check.before, 24)} → {formatValue(check.after, 24)}
                    </span>
                  </div>
                  <div className="jp-repro-compare-verdict">
                    {check.reason ? `${check.verdict}: ${check.reason}` : check.verdict}
                  </div>
                </li>
              );
            })}
          </ul>
        )}
      </Part>

      <Part
        name="cells"
        title={trans.__('Cells')}
        count={trans.__('%1 of %2 differ', view.cellsDiffer, view.cellsTotal)}
      >
        {reply.cells.length === 0 ? (
          <p className="jp-repro-none">
            {view.cellsTotal === 0
              ? trans.__('No cells recorded in either run.')
              : trans.__('Every cell matches.')}
          </p>
        ) : (
          <ul className="jp-repro-cell-list">
            {cells.map((cell, i) => (
              <li
                key={`${cell.key}-${i}`}
                className={`jp-repro-cell jp-repro-compare-cell jp-repro-state-${cell.state}`}
                data-key={cell.key}
                data-cell-id={cell.cell_id ?? ''}
                title={trans.__('Select this cell in the notebook')}
                onClick={() => props.onReveal(cell)}
              >
                <div className="jp-repro-compare-cell-head">
                  <span className="jp-repro-cell-index">{label(cell)}</span>
                  <span className="jp-repro-cell-excerpt">{cell.excerpt}</span>
                  <span className="jp-repro-badge jp-repro-cell-state">{cell.state}</span>
                </div>
                <div className="jp-repro-compare-reason">{cell.reason}</div>
              </li>
            ))}
          </ul>
        )}
        {!allCells && reply.cells.length > CELL_LIMIT && (
          <button className="jp-repro-link-button" onClick={() => setAllCells(true)}>
            {trans.__('Show all %1 cells', reply.cells.length)}
          </button>
        )}
      </Part>
    </>
  );
}

/**
 * Two runs of the notebook side by side: pick A and B (default: the baseline
 * and the latest run) and see what differs in configuration, git, environment,
 * checks and cells. Collapsed at first: it reads only while open.
 */
export function CompareSection(
  props: ISectionProps & {
    compare: ICompareState;
    runs: IRunsReply | null;
    runsError?: string;
    onToggle: (open: boolean) => void;
    onPick: (a: number | null, b: number | null) => void;
    onReveal: (cell: ICellDiff) => void;
    cellLabel?: (cell: ICellDiff) => string;
  }
): JSX.Element {
  const { trans, compare, runs } = props;
  const list = runs?.runs ?? [];
  const fallback = defaultPair(list, runs?.baseline ?? null);
  // What the pickers show: the pick, else the pair the server compared, else the default.
  const a = compare.a ?? compare.reply?.a.id ?? fallback.a;
  const b = compare.b ?? compare.reply?.b.id ?? fallback.b;
  let body: React.ReactNode = null;
  if (compare.open) {
    if (props.runsError) {
      body = <div className="jp-repro-section-error">{props.runsError}</div>;
    } else if (runs === null) {
      body = <div className="jp-repro-none jp-repro-section-loading">{trans.__('Loading…')}</div>;
    } else if (list.length < 2) {
      body = (
        <p className="jp-repro-none">
          {trans.__('Only one run is recorded: run the notebook again to compare two runs.')}
        </p>
      );
    } else {
      body = (
        <>
          <div className="jp-repro-compare-pickers">
            <RunPicker
              side="a"
              label={trans.__('A')}
              runs={list}
              value={a}
              onChange={id => props.onPick(id, b)}
            />
            <RunPicker
              side="b"
              label={trans.__('B')}
              runs={list}
              value={b}
              onChange={id => props.onPick(a, id)}
            />
          </div>
          {compare.error ? (
            <div className="jp-repro-section-error">{compare.error}</div>
          ) : compare.reply === null ? (
            <div className="jp-repro-none jp-repro-section-loading">{trans.__('Loading…')}</div>
          ) : (
            <div
              className="jp-repro-compare-result"
              data-a={compare.reply.a.id}
              data-b={compare.reply.b.id}
              aria-busy={compare.loading}
            >
              <Comparison
                // A new pair starts with its parts open again.
                key={`${compare.reply.a.id}-${compare.reply.b.id}`}
                trans={trans}
                reply={compare.reply}
                onReveal={props.onReveal}
                cellLabel={props.cellLabel}
              />
            </div>
          )}
        </>
      );
    }
  }
  const count =
    compare.open && compare.reply && !compare.error
      ? trans.__(
          '%1 vs %2',
          runName(compare.reply.a.id, compare.reply.a.number),
          runName(compare.reply.b.id, compare.reply.b.number)
        )
      : runs
        ? trans.__('%1 runs', list.length)
        : '';
  return (
    <section
      className="jp-repro-section jp-repro-compare"
      data-section="compare"
      data-open={compare.open}
    >
      <h3 className="jp-repro-section-title">
        <button
          className="jp-repro-section-toggle"
          aria-expanded={compare.open}
          onClick={() => props.onToggle(!compare.open)}
        >
          <span className="jp-repro-caret" aria-hidden="true">
            {compare.open ? '▾' : '▸'}
          </span>{' '}
          {trans.__('Compare runs')}
          {count && <span className="jp-repro-count"> {count}</span>}
        </button>
      </h3>
      {body}
    </section>
  );
}
