import * as React from 'react';

import { ICellDiff, IReproState } from '../../tokens';
import { verdictOf, verifyLevel } from '../../verdict';
import { ISectionProps } from './section';

/** One line of why a cell differs, from the server's `reason` (older servers: the lists). */
export function cellReason(cell: ICellDiff): string {
  if (cell.reason) {
    return cell.reason;
  }
  const parts = [
    ...(cell.error ? [`error: ${cell.error}`] : []),
    ...cell.rng_differs
      .filter(g => cell.rng_drawn.includes(g))
      .map(g => `drew from a differently seeded generator (${g})`),
    ...(cell.values_differ.length ? [`values differ: ${cell.values_differ.join(', ')}`] : []),
    ...(cell.files_differ.length ? [`files differ: ${cell.files_differ.join(', ')}`] : [])
  ];
  return parts.join('; ') || cell.state;
}

/**
 * The verdict first: does the latest run match the baseline, one sentence
 * saying what was compared with what, and the first cell that differs with
 * its cause (a click selects it).
 */
export function VerdictBlock(
  props: ISectionProps & {
    state: IReproState;
    onReveal: (cell: ICellDiff) => void;
    cellLabel: (cell: ICellDiff) => string;
  }
): JSX.Element {
  const { trans, state } = props;
  const verdict = verdictOf(trans, state.cells, state.checks, props.cellLabel, state.status);
  const level = verifyLevel(state.jobs.verify);
  const verified = state.jobs.verify?.result?.verdict;
  return (
    <div
      className={`jp-repro-verdict-block jp-repro-tone-${verdict.tone}`}
      data-tone={verdict.tone}
      role="status"
    >
      <div className="jp-repro-headline">{verdict.headline}</div>
      {verdict.sentence && <div className="jp-repro-compared">{verdict.sentence}</div>}
      {verdict.first && (
        <button
          className="jp-repro-first"
          title={trans.__('Select this cell in the notebook')}
          onClick={() => props.onReveal(verdict.first!)}
        >
          <span className="jp-repro-first-head">
            <span className="jp-repro-first-label">{props.cellLabel(verdict.first)}</span>{' '}
            <code className="jp-repro-first-excerpt">{verdict.first.excerpt}</code>
          </span>
          <span className="jp-repro-first-cause">
            {trans.__('Cause: %1', cellReason(verdict.first))}
          </span>
        </button>
      )}
      {typeof verified === 'string' && state.jobs.verify?.state === 'done' && (
        <div className="jp-repro-level">
          {level
            ? trans.__('Verify in a fresh kernel: %1 (level: %2)', verified, level)
            : trans.__('Verify in a fresh kernel: %1', verified)}
        </div>
      )}
    </div>
  );
}
