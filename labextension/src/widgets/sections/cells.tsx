import * as React from 'react';

import { cellLabel as labelOf } from '../../cells';
import { ICellDiff, ICellsReply } from '../../tokens';
import { cellCountsText } from '../../verdict';
import { ISectionProps, ISectionToggle, Section } from './section';
import { cellReason } from './verdict';

const CELL_LIMIT = 300;

/** This run's cells vs the baseline, each with its state and reason; a click reveals the cell. */
export function CellsSection(
  props: ISectionProps & {
    cells: ICellsReply | null;
    error?: string;
    onReveal: (cell: ICellDiff) => void;
    /** `cell 5 (code cell 3)`: the cell's place in the open notebook (see `cellDiffLabel`). */
    cellLabel?: (cell: ICellDiff) => string;
    /** The cell's 0-based place in the open notebook (-1: not there), for the row order. */
    cellIndex?: (cell: ICellDiff) => number;
    toggle?: ISectionToggle;
  }
): JSX.Element {
  const { trans, cells } = props;
  const [showAll, setShowAll] = React.useState(false);
  const first = cells?.first_divergent ?? null;
  const position = (cell: ICellDiff): number => {
    const here = props.cellIndex ? props.cellIndex(cell) : -1;
    return here >= 0 ? here : (cell.index ?? Infinity);
  };
  // In notebook order (the reply lists cells in execution order, cells of the baseline only last).
  const ordered = cells ? [...cells.cells].sort((a, b) => position(a) - position(b)) : [];
  const rows = showAll ? ordered : ordered.slice(0, CELL_LIMIT);
  // the server's index is 0-based among all cells; people read 1-based labels
  const cellLabel = (cell: ICellDiff): string =>
    props.cellLabel ? props.cellLabel(cell) : labelOf(cell.index);
  const isBaseline = cells !== null && cells.baseline === cells.run;
  const differing = cells ? cells.total - (cells.counts.same ?? 0) : 0;
  return (
    <Section
      name="cells"
      title={trans.__('Cells')}
      error={props.error}
      loading={cells === null}
      loadingText={trans.__('Loading…')}
      count={
        cells === null
          ? ''
          : isBaseline
            ? trans.__('%1 recorded', cells.total)
            : cellCountsText(trans, cells)
      }
      countTone={cells === null || isBaseline ? '' : differing > 0 ? 'fail' : 'ok'}
      toggle={props.toggle}
    >
      {cells === null ? null : cells.cells.length === 0 ? (
        <p className="jp-repro-none">{trans.__('No cells recorded in this run.')}</p>
      ) : (
        <>
          <ul className="jp-repro-cell-list">
            {rows.map((cell, i) => {
              const isFirst = first !== null && cell.key === first.key;
              const reason = cell.state === 'same' ? '' : cellReason(cell);
              return (
                <li
                  key={`${cell.key}-${i}`}
                  className={`jp-repro-cell jp-repro-state-${cell.state}${
                    isFirst ? ' jp-repro-first-divergent' : ''
                  }`}
                  data-key={cell.key}
                  data-cell-id={cell.cell_id ?? ''}
                  title={trans.__('Select this cell in the notebook')}
                  onClick={() => props.onReveal(cell)}
                >
                  <div className="jp-repro-cell-head">
                    <span className="jp-repro-cell-index">{cellLabel(cell)}</span>
                    <span className="jp-repro-cell-excerpt">{cell.excerpt}</span>
                    <span className="jp-repro-badge jp-repro-cell-state">
                      {isBaseline && cell.state === 'same' ? trans.__('recorded') : cell.state}
                    </span>
                  </div>
                  {reason && <div className="jp-repro-cell-reason">{reason}</div>}
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
