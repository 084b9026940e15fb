import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { ISeedRecord, IStatusReply } from '../../tokens';
import { formatAgo, formatValue } from '../format';
import { checklistScore } from '../../verdict';
import { ISectionProps, ISectionToggle, Mark, Section } from './section';

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
    return trans.__('requested, on');
  }
  if (effective === false) {
    return trans.__('requested, NOT on');
  }
  return trans.__('requested (no torch)');
}

/** Details longer than this fold to two lines, with a button to read them whole. */
const LONG_DETAIL = 110;

/** A checklist detail or a warning: the full text, folded to two lines when long. */
function FoldedText(props: {
  trans: TranslationBundle;
  text: string;
  className: string;
}): JSX.Element {
  const [open, setOpen] = React.useState(false);
  const long = props.text.length > LONG_DETAIL;
  return (
    <span className={props.className}>
      <span className={long && !open ? 'jp-repro-folded' : undefined}>{props.text}</span>
      {long && (
        <>
          {' '}
          <button
            className="jp-repro-link-button jp-repro-more"
            aria-expanded={open}
            onClick={event => {
              event.stopPropagation();
              setOpen(!open);
            }}
          >
            {open ? props.trans.__('less') : props.trans.__('more')}
          </button>
        </>
      )}
    </span>
  );
}

/** Seed, capture, runs, and the checklist with its score (every item shown counts). */
export function StatusSection(
  props: ISectionProps & { status: IStatusReply; toggle?: ISectionToggle }
): JSX.Element {
  const { trans } = props;
  const reply = props.status;
  const status = reply.status;
  const seed = status?.seed ?? null;
  const latest = reply.latest_run;
  const items = status?.checklist ?? [];
  // A warning a checklist row already carries in full (the hash seed) is said once, there.
  const details = new Set(items.map(item => item.detail));
  const warnings = (status?.seed_warnings ?? []).filter(w => !details.has(w));
  const score = checklistScore(items);
  const count =
    items.length === 0
      ? ''
      : score.unknown > 0
        ? trans.__('%1/%2 · %3 unknown', score.passed, score.total, score.unknown)
        : trans.__('%1/%2', score.passed, score.total);
  return (
    <Section
      name="status"
      title={trans.__('Checklist')}
      count={count}
      countTone={score.failed > 0 ? 'fail' : score.passed === score.total ? 'ok' : ''}
      toggle={props.toggle}
    >
      <dl className="jp-repro-facts">
        <dt>{trans.__('Seed')}</dt>
        <dd className="jp-repro-seed">{seedText(trans, seed)}</dd>
        <dt title={trans.__("torch's deterministic algorithms")}>
          {trans.__('Torch determinism')}
        </dt>
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
          {latest ? ` · ${trans.__('latest %1', formatAgo(latest.started))}` : ''}
        </dd>
      </dl>
      {warnings.length > 0 && (
        <ul className="jp-repro-warnings">
          {warnings.map((w, i) => (
            <li key={i}>
              <FoldedText trans={trans} text={w} className="jp-repro-warning-text" />
            </li>
          ))}
        </ul>
      )}
      {items.length > 0 && (
        <ul className="jp-repro-checklist">
          {items.map(item => (
            <li
              key={item.name}
              className={`jp-repro-checklist-item ${
                item.ok === true
                  ? 'jp-repro-ok'
                  : item.ok === false
                    ? 'jp-repro-notok'
                    : 'jp-repro-unknown-item'
              }`}
              data-name={item.name}
            >
              <Mark ok={item.ok} /> <span className="jp-repro-check-label">{item.name}</span>
              {item.detail && (
                <>
                  {' — '}
                  <FoldedText trans={trans} text={item.detail} className="jp-repro-detail" />
                </>
              )}
            </li>
          ))}
        </ul>
      )}
    </Section>
  );
}
