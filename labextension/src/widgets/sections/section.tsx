/**
 * The frame every sidebar section shares: a titled block that shows its
 * error or a loading line instead of its body, and the pass/fail mark.
 */
import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

/** Props shared by the sections. */
export interface ISectionProps {
  trans: TranslationBundle;
}

/**
 * Which sections are open: the sidebar keeps it while it lives, so a section
 * a person closed stays closed across refreshes and notebooks.
 */
export interface ISectionToggle {
  /** Whether the section is open (its default when the person never toggled it). */
  isOpen: (name: string, byDefault: boolean) => boolean;
  onToggle: (name: string, open: boolean) => void;
}

/**
 * A titled section; its error or loading text replaces the body. With
 * `toggle`, the title is a button that opens and closes it, with `count`
 * (`4/6`, `1 major · 3 minor`) beside it so a closed section still tells its story.
 */
export function Section(props: {
  name: string;
  title: string;
  children?: React.ReactNode;
  error?: string;
  /** The section's data has not arrived yet. */
  loading?: boolean;
  loadingText?: string;
  /** Shown beside the title, e.g. `4/6`. */
  count?: string;
  /** The tone of the count: `ok`, `fail` or nothing. */
  countTone?: 'ok' | 'fail' | '';
  toggle?: ISectionToggle;
  /** Open unless the person closed it (default true). */
  defaultOpen?: boolean;
}): JSX.Element {
  const open = props.toggle ? props.toggle.isOpen(props.name, props.defaultOpen ?? true) : true;
  let body: React.ReactNode = props.children;
  if (props.error) {
    body = <div className="jp-repro-section-error">{props.error}</div>;
  } else if (props.loading) {
    body = <div className="jp-repro-none jp-repro-section-loading">{props.loadingText}</div>;
  }
  const count = props.count ? (
    <span
      className={`jp-repro-count${props.countTone ? ` jp-repro-count-${props.countTone}` : ''}`}
    >
      {props.count}
    </span>
  ) : null;
  return (
    <section
      className={`jp-repro-section jp-repro-${props.name}`}
      data-section={props.name}
      data-open={open}
    >
      <h3 className="jp-repro-section-title">
        {props.toggle ? (
          <button
            className="jp-repro-section-toggle"
            aria-expanded={open}
            onClick={() => props.toggle!.onToggle(props.name, !open)}
          >
            <span className="jp-repro-caret" aria-hidden="true">
              {open ? '▾' : '▸'}
            </span>
            <span className="jp-repro-section-name">{props.title}</span>
            {count}
          </button>
        ) : (
          <>
            <span className="jp-repro-section-name">{props.title}</span>
            {count}
          </>
        )}
      </h3>
      {open && body}
    </section>
  );
}

/** ✓, ✗ or ? for a pass, a failure or an unknown. */
export function Mark(props: { ok: boolean | null | undefined }): JSX.Element {
  if (props.ok === true) {
    return <span className="jp-repro-mark jp-repro-pass">✓</span>;
  }
  if (props.ok === false) {
    return <span className="jp-repro-mark jp-repro-fail">✗</span>;
  }
  return <span className="jp-repro-mark jp-repro-unknown">?</span>;
}
