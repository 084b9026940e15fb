/**
 * The "Compare runs" section: run labels, the default pair, the counts and
 * groupings of a comparison (compare.ts), and what the section renders for
 * the comparison the server really sends (fixtures/replies.json, recorded by
 * tests/lab/test_contract.py).
 */
// An ambient declaration (react-dom's types are not installed) is only reachable this way.
// eslint-disable-next-line @typescript-eslint/triple-slash-reference
/// <reference path="./react-dom-server.d.ts" />
import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';
import { renderToStaticMarkup } from 'react-dom/server';

import {
  compareView,
  defaultPair,
  formatRunTime,
  runKindLabel,
  runOptionLabel,
  verdictTone
} from '../compare';
import { EMPTY_COMPARE } from '../model';
import { ICompareReply, IRunInfo, IRunsReply } from '../tokens';
import { CompareSection } from '../widgets/sections/compare';
import replies from './fixtures/replies.json';

const reply = replies.compare as unknown as ICompareReply;

/** 2026-12-01 10:02 local time, in unix seconds. */
const DEC_1 = new Date(2026, 11, 1, 10, 2, 30).getTime() / 1000;

function run(id: number, extra: Partial<IRunInfo> = {}): IRunInfo {
  return {
    id,
    run_uuid: `u${id}`,
    notebook: 'nb.ipynb',
    kind: 'run',
    started: DEC_1,
    ended: null,
    n_cells: 3,
    n_errors: 0,
    seed: null,
    capture: true,
    environment_id: null,
    git_id: null,
    label: null,
    is_baseline: false,
    ...extra
  };
}

/** A translation bundle that only fills in %1, %2, … */
const trans = {
  __: (text: string, ...args: unknown[]) =>
    text.replace(/%(\d)/g, (_: string, i: string) => String(args[Number(i) - 1]))
} as unknown as TranslationBundle;

describe('run labels', () => {
  it('names run kinds as the CLI does', () => {
    expect(runKindLabel('run')).toBe('headless');
    expect(runKindLabel('export')).toBe('headless');
    expect(runKindLabel('interactive')).toBe('interactive');
    expect(runKindLabel('verify', 'seed 3')).toBe('seed run');
    expect(runKindLabel('verify')).toBe('verify');
    expect(runKindLabel('something-new')).toBe('something-new');
  });

  it('formats a run time to the minute, in local time', () => {
    expect(formatRunTime(DEC_1)).toBe('2026-12-01 10:02');
    expect(formatRunTime(null)).toBe('?');
    expect(formatRunTime(Number.NaN)).toBe('?');
  });

  it('labels each run like "run 5 · 2026-12-01 10:02 · headless"', () => {
    expect(runOptionLabel(run(5))).toBe('run 5 · 2026-12-01 10:02 · headless');
    expect(runOptionLabel(run(3, { kind: 'interactive', is_baseline: true }))).toBe(
      'run 3 · 2026-12-01 10:02 · interactive · baseline'
    );
    expect(runOptionLabel(run(7, { label: 'lr sweep' }))).toBe(
      'run 7 · 2026-12-01 10:02 · headless · lr sweep'
    );
    // A label that only repeats the kind says nothing more.
    expect(runOptionLabel(run(8, { label: 'run' }))).toBe('run 8 · 2026-12-01 10:02 · headless');
    expect(runOptionLabel(run(9, { kind: 'verify', label: 'seed 2' }))).toBe(
      'run 9 · 2026-12-01 10:02 · seed run · seed 2'
    );
  });
});

describe('defaultPair', () => {
  it('is the baseline and the latest run that recorded cells', () => {
    const runs = [run(1), run(2), run(3), run(4, { n_cells: 0 })];
    expect(defaultPair(runs, 2)).toEqual({ a: 2, b: 3 });
  });

  it('falls back to the first recorded run, script runs count as recorded', () => {
    const runs = [run(1, { n_cells: 0 }), run(2), run(3, { kind: 'script', n_cells: 0 })];
    expect(defaultPair(runs, null)).toEqual({ a: 2, b: 3 });
  });

  it('uses every run when none recorded cells, and nothing without runs', () => {
    expect(defaultPair([run(1, { n_cells: 0 }), run(2, { n_cells: 0 })], null)).toEqual({
      a: 1,
      b: 2
    });
    expect(defaultPair([], null)).toEqual({ a: null, b: null });
  });
});

describe('compareView', () => {
  it('tells the check verdicts apart', () => {
    expect(verdictTone('within tolerance')).toBe('ok');
    expect(verdictTone('outside tolerance')).toBe('fail');
    expect(verdictTone('only in A')).toBe('only');
    expect(verdictTone('only in B')).toBe('only');
  });

  it('counts and groups the server reply', () => {
    const view = compareView(reply);
    expect(view.configDiffer).toBe(3);
    expect(view.configSame).toBe(1);
    expect(view.gitFiles).toBe(2);
    expect([view.gitAdded, view.gitDeleted]).toEqual([3, 1]);
    // major and minor items are shown; info items are counted and collapsed
    expect(view.drift.map(i => i.name)).toEqual(['numpy']);
    expect([view.driftMajor, view.driftMinor]).toEqual([1, 0]);
    expect(view.driftInfo.map(i => i.name)).toEqual(['six']);
    expect(view.checks).toBe(2);
    expect(view.checksOff.map(c => c.name)).toEqual(['loss']);
    expect(view.cellsDiffer).toBe(2);
    expect(view.cellsTotal).toBe(3);
  });

  it('puts major items before minor ones', () => {
    const item = (name: string, severity: string) => ({
      kind: 'package',
      name,
      before: '1',
      after: '2',
      severity,
      why: '',
      imported: true,
      change: 'changed',
      detail: null
    });
    const view = compareView({
      ...reply,
      drift: {
        ...reply.drift,
        items: [item('a', 'minor'), item('b', 'info'), item('c', 'major'), item('d', 'minor')]
      }
    });
    expect(view.drift.map(i => i.name)).toEqual(['c', 'a', 'd']);
    expect([view.driftMajor, view.driftMinor]).toEqual([1, 2]);
  });
});

describe('CompareSection', () => {
  const runs: IRunsReply = {
    path: 'work/analysis.ipynb',
    revision: 'r1',
    runs: [run(1, { is_baseline: true }), run(2)],
    baseline: 1
  };

  function render(props: Partial<React.ComponentProps<typeof CompareSection>>): string {
    return renderToStaticMarkup(
      React.createElement(CompareSection, {
        trans,
        compare: { ...EMPTY_COMPARE, open: true, reply },
        runs,
        onToggle: () => undefined,
        onPick: () => undefined,
        onReveal: () => undefined,
        ...props
      })
    );
  }

  it('shows both runs, config values, git, drift, checks with verdicts and cells', () => {
    const html = render({});
    // the pickers list every run and show the compared pair
    expect(html).toContain('run 1 · ');
    expect(html).toMatch(/<select class="[^"]*jp-repro-compare-a"[^>]*>/);
    expect(html).toMatch(/<option value="1" selected="">run 1 · [^<]* · baseline<\/option>/);
    expect(html).toMatch(/<option value="2" selected="">run 2 · /);
    expect(html).toContain(reply.summary);
    // configuration: key, A value, B value
    expect(html).toMatch(
      /data-key="cfg.lr"[^>]*>.*?<td[^>]*>cfg\.lr<\/td><td[^>]*>0\.1<\/td><td[^>]*>0\.01</
    );
    expect(html).toMatch(/data-key="cfg.batch" data-state="added"[^>]*>.*?—.*?32/);
    expect(html).toContain('3 differ, 1 same');
    // git: the summary, the changed files collapsed
    expect(html).toContain(reply.git.summary);
    expect(html).toMatch(
      /<details class="jp-repro-compare-files"><summary>2 changed files \(\+3 −1\)/
    );
    // environment: major shown, info collapsed with a count
    expect(html).toContain('data-name="numpy" data-severity="major"');
    expect(html).toMatch(/<details class="jp-repro-compare-info"><summary>1 info-level items/);
    // checks: both values and the verdict, the reason inline
    expect(html).toMatch(/data-name="loss" data-verdict="outside tolerance"/);
    expect(html).toContain('0.5 → 0.7');
    expect(html).toContain('outside tolerance: 0.5 expected, got 0.7');
    expect(html).toContain('within tolerance');
    expect(html).toContain('1 of 2 differ');
    // cells: the differing ones with their reason
    expect(html).toContain('values differ: x');
    expect(html).toContain('error: ValueError: boom');
    expect(html).toContain('2 of 3 differ');
  });

  it('is one collapsed line until opened', () => {
    const html = render({ compare: EMPTY_COMPARE, runs: null });
    expect(html).toContain('aria-expanded="false"');
    expect(html).toContain('Compare runs');
    expect(html).not.toContain('<select');
  });

  it('says when there is only one run, and shows a failed comparison', () => {
    const one = { ...runs, runs: [run(1)] };
    expect(render({ runs: one })).toContain('Only one run is recorded');
    const failed = render({
      compare: { ...EMPTY_COMPARE, open: true, a: 9, error: 'Run 9 is not a run of nb.ipynb.' }
    });
    expect(failed).toContain('Run 9 is not a run of nb.ipynb.');
    expect(failed).not.toContain('jp-repro-compare-result');
  });
});
