import * as React from 'react';

import { TranslationBundle } from '@jupyterlab/translation';

import { IDriftItem, IDriftReply } from '../../tokens';
import { formatValue, severityClass, severityRank } from '../format';
import { ISectionProps, Section } from './section';

/**
 * Drift items, one line each: severity badge (unless `plain`), name, and the
 * change. Shared by the Drift section and the Compare section.
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
      {props.items.map((item, i) => (
        <li
          key={`${item.kind}-${item.name}-${i}`}
          className={`jp-repro-drift-item ${severityClass(item.severity)}`}
          data-name={item.name}
          data-severity={item.severity}
          title={!plain && item.detail ? `${item.detail}. ${item.why}` : item.why}
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
            {' '}
            {formatValue(item.before, 30)} → {formatValue(item.after, 30)}
          </span>
        </li>
      ))}
    </ul>
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
            {Object.entries(report?.counts ?? {})
              .filter(([, n]) => n > 0)
              .map(([severity, n]) => (
                <span key={severity} className={`jp-repro-count ${severityClass(severity)}`}>
                  {trans.__('%1 %2', n, severity)}{' '}
                </span>
              ))}
          </div>
          <DriftList items={items} trans={trans} />
        </>
      )}
    </Section>
  );
}
