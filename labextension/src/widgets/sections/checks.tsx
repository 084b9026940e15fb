import * as React from 'react';

import { ICheckStats, IChecksReply } from '../../tokens';
import { formatValue } from '../format';
import { checkCounts } from '../../verdict';
import { ISectionProps, ISectionToggle, Mark, Section } from './section';

const CHECK_MARK: Record<string, boolean | null> = { pass: true, fail: false };

/** Checks of the latest run vs the baseline with numbers, plus stats over runs. */
export function ChecksSection(
  props: ISectionProps & { checks: IChecksReply | null; error?: string; toggle?: ISectionToggle }
): JSX.Element {
  const { trans, checks } = props;
  const report = checks?.report ?? null;
  const items = report?.items ?? [];
  const counts = report?.counts ?? {};
  const withStats = items.filter(item => item.stats !== null);
  const c = checkCounts(checks);
  const count =
    checks === null || c.total === 0
      ? ''
      : c.fresh === c.total
        ? trans.__('%1 new', c.total)
        : trans.__('%1/%2', c.pass, c.total);
  return (
    <Section
      name="checks"
      title={trans.__('Validation')}
      error={props.error}
      loading={checks === null}
      loadingText={trans.__('Loading…')}
      count={count}
      countTone={c.fail > 0 ? 'fail' : c.pass > 0 && c.pass === c.total ? 'ok' : ''}
      toggle={props.toggle}
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
                  <td className="jp-repro-check-actual" title={formatValue(item.actual, 2000)}>
                    {formatValue(item.actual, 16)}
                  </td>
                  <td className="jp-repro-check-expected" title={formatValue(item.expected, 2000)}>
                    {formatValue(item.expected, 16)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {withStats.length > 0 && (
            <details className="jp-repro-drift-fold jp-repro-stats-fold">
              <summary>{trans.__('Spread over runs (mean ± std)')}</summary>
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
            </details>
          )}
        </>
      )}
    </Section>
  );
}
