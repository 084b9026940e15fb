import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { ISeedRecord, IStatusReply } from '../../tokens';
import { formatAgo, formatValue } from '../format';
import { ISectionProps, Mark, Section } from './section';

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
