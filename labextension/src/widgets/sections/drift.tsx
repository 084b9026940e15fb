import * as React from 'react';

import { TranslationBundle } from '@jupyterlab/translation';

import { IDriftItem, IDriftReply } from '../../tokens';
import { driftCountText, driftGroups, runName } from '../../verdict';
import { formatValue, severityClass, truncateAround } from '../format';
import { ISectionProps, ISectionToggle, Section } from './section';

/** Characters of a before/after value shown; the differing part stays in view. */
const VALUE_CHARS = 36;

/**
 * Drift items, one line each: severity badge (unless `plain`), name, and the
 * change, shortened around where the values differ (the full values are in
 * the tooltip). Shared by the Drift section and the Compare section.
 */
export function DriftList(props: {
  items: IDriftItem[];
  trans: TranslationBundle;
  /** Info-level lists: no badge and the reason alone as the tooltip. */
  plain?: boolean;
}): JSX.Element {
  const { trans, plain } = props;
  return (
    <ul className="jp-repro-drift-list">
      {props.items.map((item, i) => {
        const before = formatValue(item.before, 10_000);
        const after = formatValue(item.after, 10_000);
        const [shownBefore, shownAfter] = truncateAround(before, after, VALUE_CHARS);
        const why = !plain && item.detail ? `${item.detail}. ${item.why}` : item.why;
        return (
          <li
            key={`${item.kind}-${item.name}-${i}`}
            className={`jp-repro-drift-item ${severityClass(item.severity)}`}
            data-name={item.name}
            data-severity={item.severity}
            title={`${why}\n${before} → ${after}`}
          >
            {!plain && (
              <>
                <span className="jp-repro-badge">{item.severity}</span>{' '}
              </>
            )}
            <span className="jp-repro-drift-name">
              {item.kind === 'package' ? item.name : `${item.kind}: ${item.name}`}
            </span>
            {item.imported && <span className="jp-repro-imported"> {trans.__('imported')}</span>}
            <span className="jp-repro-drift-change">
              <span className="jp-repro-drift-before">{shownBefore}</span>
              {' → '}
              <span className="jp-repro-drift-after">{shownAfter}</span>
            </span>
          </li>
        );
      })}
    </ul>
  );
}

/**
 * Environment drift: major and minor items shown, info-level items and the
 * packages the notebook does not import each folded into one row.
 */
export function DriftSection(
  props: ISectionProps & {
    drift: IDriftReply | null;
    error?: string;
    toggle?: ISectionToggle;
    /** Store id -> this notebook's run number (see `runNumbers`). */
    numbers?: ReadonlyMap<number, number>;
  }
): JSX.Element {
  const { trans, drift } = props;
  const numbers = props.numbers ?? new Map<number, number>();
  const report = drift?.report ?? null;
  const groups = driftGroups(drift);
  const total = groups.flagged.length + groups.info.length + groups.unimported.length;
  let empty: string | null = null;
  if (drift !== null && report === null) {
    empty =
      drift.baseline === null || drift.run === null
        ? trans.__('No run recorded yet.')
        : trans.__('No environment recorded for the baseline or the latest run.');
  } else if (report !== null && total === 0) {
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
      count={
        empty === null
          ? driftCountText(trans, drift)
          : drift !== null && drift.baseline === drift.run
            ? trans.__('baseline only')
            : trans.__('none')
      }
      countTone={(report?.counts.major ?? 0) > 0 ? 'fail' : ''}
      toggle={props.toggle}
      defaultOpen={groups.flagged.length > 0}
    >
      {drift === null ? null : empty !== null ? (
        <p className="jp-repro-none">{empty}</p>
      ) : (
        <>
          <div className="jp-repro-drift-summary">
            {trans.__(
              'Baseline %1 → latest %2: %3',
              drift.baseline === null ? '—' : runName(drift.baseline, numbers.get(drift.baseline)),
              drift.run === null ? '—' : runName(drift.run, numbers.get(drift.run)),
              report?.summary ?? ''
            )}
          </div>
          {groups.flagged.length > 0 && <DriftList items={groups.flagged} trans={trans} />}
          {groups.info.length > 0 && (
            <details className="jp-repro-drift-fold jp-repro-drift-info">
              <summary>
                {trans._n('%1 info-level item', '%1 info-level items', groups.info.length)}
                <span className="jp-repro-fold-hint"> — {trans.__('show')}</span>
              </summary>
              <DriftList items={groups.info} trans={trans} />
            </details>
          )}
          {groups.unimported.length > 0 && (
            <details className="jp-repro-drift-fold jp-repro-drift-unimported">
              <summary>
                {trans._n(
                  '%1 package not imported by the notebook',
                  '%1 packages not imported by the notebook',
                  groups.unimported.length
                )}
                <span className="jp-repro-fold-hint"> — {trans.__('show')}</span>
              </summary>
              <DriftList items={groups.unimported} trans={trans} />
            </details>
          )}
        </>
      )}
    </Section>
  );
}
