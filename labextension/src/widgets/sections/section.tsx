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

/** A titled section; its error or loading text replaces the body. */
export function Section(props: {
  name: string;
  title: string;
  children?: React.ReactNode;
  error?: string;
  /** The section's data has not arrived yet. */
  loading?: boolean;
  loadingText?: string;
}): JSX.Element {
  let body: React.ReactNode = props.children;
  if (props.error) {
    body = <div className="jp-repro-section-error">{props.error}</div>;
  } else if (props.loading) {
    body = <div className="jp-repro-none jp-repro-section-loading">{props.loadingText}</div>;
  }
  return (
    <section className={`jp-repro-section jp-repro-${props.name}`} data-section={props.name}>
      <h3 className="jp-repro-section-title">{props.title}</h3>
      {body}
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
