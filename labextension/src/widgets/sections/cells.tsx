import * as React from 'react';

import { cellLabel as labelOf } from '../../cells';
import { ICellDiff, ICellsReply } from '../../tokens';
import { ISectionProps, Section } from './section';

const CELL_LIMIT = 300;

/** This run's cells vs the baseline; a click reveals the cell. */
export function CellsSection(
  props: ISectionProps & {
    cells: ICellsReply | null;
    error?: string;
    onReveal: (cell: ICellDiff) => void;
    /** `cell 5 (code cell 3)`: the cell's place in the open notebook (see `cellDiffLabel`). */
    cellLabel?: (cell: ICellDiff) => string;
  }
): JSX.Element {
  const { trans, cells } = props;
  const [showAll, setShowAll] = React.useState(false);
  const first = cells?.first_divergent ?? null;
  const rows = cells ? (showAll ? cells.cells : cells.cells.slice(0, CELL_LIMIT)) : [];
  // the server's index is 0-based among all cells; people read 1-based labels
  const cellLabel = (cell: ICellDiff): string =>
    props.cellLabel ? props.cellLabel(cell) : labelOf(cell.index);
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
              ? trans.__('First divergent cell: %1: %2', cellLabel(first), first.excerpt)
              : cells.baseline === cells.run
                ? trans.__('This run is the baseline.')
                : trans.__('All cells match the baseline.')}
          </div>
          <ul className="jp-repro-cell-list">
            {rows.map((cell, i) => {
              const isFirst = first !== null && cell.key === first.key;
              const details = [
                // RNG state is evidence of a cause: shown only for generators the cell drew from.
                ...cell.rng_differs
                  .filter(g => cell.rng_drawn.includes(g))
                  .map(g => trans.__('draws from %1 (seeded differently)', g)),
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
