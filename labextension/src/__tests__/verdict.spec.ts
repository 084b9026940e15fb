/**
 * What the sidebar says first and the counts of its section headers
 * (verdict.ts), `truncateAround` (format.ts), and the verdict block, cells
 * and drift sections as they render.
 */
// An ambient declaration (react-dom's types are not installed) is only reachable this way.
// eslint-disable-next-line @typescript-eslint/triple-slash-reference
/// <reference path="./react-dom-server.d.ts" />
import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';
import { renderToStaticMarkup } from 'react-dom/server';

import { cellLabel } from '../cells';
import { EMPTY_STATE } from '../model';
import {
  ICellDiff,
  ICellsReply,
  IChecklistItem,
  IChecksReply,
  IDriftItem,
  IDriftReply,
  IReproState
} from '../tokens';
import {
  cellCountsText,
  checklistScore,
  driftCountText,
  driftGroups,
  runName,
  runNumbers,
  verdictOf
} from '../verdict';
import { truncateAround } from '../widgets/format';
import { CellsSection } from '../widgets/sections/cells';
import { DriftSection } from '../widgets/sections/drift';
import { VerdictBlock } from '../widgets/sections/verdict';
import { StatusSection } from '../widgets/sections/status';

/** A translation bundle that only fills in %1, %2, … (plural forms as nullTranslator picks). */
const fill = (text: string, args: unknown[]): string =>
  text.replace(/%(\d)/g, (_: string, i: string) => String(args[Number(i) - 1]));
const trans = {
  __: (text: string, ...args: unknown[]) => fill(text, args),
  _n: (one: string, many: string, n: number, ...args: unknown[]) =>
    fill(n === 1 ? one : many, [n, ...args])
} as unknown as TranslationBundle;

const label = (cell: ICellDiff): string => cellLabel(cell.index);

function cell(index: number, extra: Partial<ICellDiff> = {}): ICellDiff {
  return {
    key: `k${index}`,
    index,
    cell_id: `c${index}`,
    excerpt: `x${index} = ${index}`,
    state: 'same',
    rng_differs: [],
    rng_drawn: [],
    generators_differ: [],
    values_differ: [],
    values_new: [],
    values_missing: [],
    files_differ: [],
    error: null,
    reason: '',
    ...extra
  };
}

function cellsReply(rows: ICellDiff[], run = 3, baseline = 1): ICellsReply {
  const counts: ICellsReply['counts'] = {};
  for (const row of rows) {
    counts[row.state] = (counts[row.state] ?? 0) + 1;
  }
  return {
    path: 'nb.ipynb',
    revision: 'r',
    run,
    baseline,
    total: rows.length,
    offset: 0,
    limit: 1000,
    cells: rows,
    first_divergent: rows.find(r => r.state !== 'same') ?? null,
    counts
  };
}

function checksReply(statuses: string[]): IChecksReply {
  const counts: Record<string, number> = {};
  for (const s of statuses) {
    counts[s] = (counts[s] ?? 0) + 1;
  }
  return {
    path: 'nb.ipynb',
    revision: 'r',
    run: 3,
    report: {
      notebook: 'nb.ipynb',
      session_id: 3,
      baseline_id: 1,
      passed: !statuses.includes('fail'),
      counts,
      items: statuses.map((status, i) => ({
        name: `check${i}`,
        status,
        expected: 1,
        actual: 1,
        error: null,
        reason: null,
        rtol: null,
        atol: null,
        cell: null,
        stats: null
      }))
    }
  };
}

function driftItem(
  name: string,
  severity: string,
  imported: boolean,
  kind = 'package'
): IDriftItem {
  return {
    kind,
    name,
    before: '1.0',
    after: '2.0',
    severity,
    why: `why ${name}`,
    imported,
    change: 'upgrade',
    detail: null
  };
}

describe('truncateAround', () => {
  it('keeps values that fit whole', () => {
    expect(truncateAround('1.26.4', '2.0.0', 20)).toEqual(['1.26.4', '2.0.0']);
  });

  it('keeps the differing middle of two paths in view', () => {
    const before = '/home/user/miniconda3/envs/analysis-2023/bin/python3.11';
    const after = '/home/user/miniconda3/envs/analysis-2024/bin/python3.11';
    const [b, a] = truncateAround(before, after, 20);
    expect(b.length).toBeLessThanOrEqual(20);
    expect(a.length).toBeLessThanOrEqual(20);
    expect(b).toContain('2023');
    expect(a).toContain('2024');
    expect(b.startsWith('…') && b.endsWith('…')).toBe(true);
  });

  it('cuts only the end when the values differ at the start', () => {
    const [b, a] = truncateAround('/usr/bin/python3', '/opt/venv/bin/python3', 10);
    expect(b).toBe('/usr/bin/…');
    expect(a).toBe('/opt/venv…');
  });

  it('cuts only the start when the values differ at the end', () => {
    const [b, a] = truncateAround('/a/very/long/common/path/v1', '/a/very/long/common/path/v2', 8);
    expect(b).toBe('…path/v1');
    expect(a).toBe('…path/v2');
  });

  it('starts at the difference when it is longer than the room', () => {
    const [b] = truncateAround('prefix-AAAAAAAAAAAAAAAAAAAA-suffix', 'prefix-B-suffix', 10);
    expect(b).toBe('…AAAAAAAA…');
  });

  it('shortens equal values (no difference) from the end', () => {
    const [b, a] = truncateAround('abcdefghijklmnop', 'abcdefghijklmnop', 6);
    expect(b).toHaveLength(6);
    expect(a).toBe(b);
  });
});

describe('verdictOf', () => {
  it('says all cells match and what was compared with what', () => {
    const cells = cellsReply([cell(1), cell(2), cell(4)]);
    const v = verdictOf(trans, cells, checksReply(['pass', 'pass', 'pass']), label);
    expect(v.tone).toBe('ok');
    expect(v.headline).toBe('All cells match the baseline');
    expect(v.sentence).toBe('Latest run 3 vs baseline run 1: all 3 cells match, 3/3 checks pass.');
  });

  it('names the first divergent cell by its place in the notebook', () => {
    const rows = [cell(1), cell(4, { state: 'different' }), cell(5, { state: 'different' })];
    const v = verdictOf(trans, cellsReply(rows), checksReply([]), label);
    expect(v.tone).toBe('diverged');
    expect(v.headline).toBe('Diverges at cell 5');
    expect(v.sentence).toBe('Latest run 3 vs baseline run 1: 2 of 3 cells differ, no checks.');
    expect(v.first?.index).toBe(4);
  });

  it("names runs by this notebook's numbers, with the store id when it differs", () => {
    expect(runName(5, 2)).toBe('run 2 (id 5)');
    expect(runName(3, 3)).toBe('run 3');
    expect(runName(7)).toBe('run 7');
    const status = {
      latest_run: { id: 3, number: 2, kind: 'interactive' },
      baseline_run: { id: 1, number: 1, kind: 'run' }
    } as unknown as Parameters<typeof runNumbers>[0];
    expect(runNumbers(status).get(3)).toBe(2);
    const cells = cellsReply([cell(1), cell(2)]);
    const v = verdictOf(trans, cells, checksReply([]), label, status);
    // The baseline `make demo` recorded says so: like is compared with like, and it shows.
    expect(v.sentence).toBe(
      'Latest run 2 (id 3) vs baseline run 1 (recorded headless): all 2 cells match, no checks.'
    );
    const only = verdictOf(trans, cellsReply([cell(1)], 1, 1), checksReply([]), label, status);
    expect(only.sentence).toMatch(/^Run 1 \(the latest, recorded headless\) is the baseline/);
  });

  it('says which run is the baseline when it is the only one', () => {
    const v = verdictOf(trans, cellsReply([cell(1), cell(2)], 1, 1), checksReply(['new']), label);
    expect(v.tone).toBe('baseline');
    expect(v.headline).toBe('Run 1 is the baseline');
    expect(v.sentence).toContain('2 cells recorded, 1 check recorded');
  });

  it('fails on failing checks even when cells match', () => {
    const v = verdictOf(trans, cellsReply([cell(1)]), checksReply(['pass', 'fail']), label);
    expect(v.tone).toBe('diverged');
    expect(v.headline).toBe('1 check fails');
    expect(v.sentence).toContain('1 of 2 check fails');
  });
});

describe('header counts', () => {
  it('counts cells per state, differing states first', () => {
    const rows = [cell(1), cell(2, { state: 'different' }), cell(3)];
    expect(cellCountsText(trans, cellsReply(rows))).toBe('1 different · 2 same');
  });

  it('scores the checklist over every item shown, unknown ones apart', () => {
    const items: IChecklistItem[] = [
      { name: 'a', ok: true, detail: '' },
      { name: 'b', ok: false, detail: '' },
      { name: 'c', ok: null, detail: '' },
      { name: 'd', ok: true, detail: '' }
    ];
    expect(checklistScore(items)).toEqual({ passed: 2, failed: 1, unknown: 1, total: 4 });
  });

  it('groups drift: flagged shown, info and packages not imported folded', () => {
    const drift: IDriftReply = {
      path: 'nb.ipynb',
      revision: 'r',
      baseline: 1,
      run: 3,
      report: {
        before: 'run 1',
        after: 'run 3',
        counts: { major: 1, minor: 1, info: 3 },
        summary: '1 major, 1 minor, 3 info',
        items: [
          driftItem('six', 'info', false),
          driftItem('numpy', 'major', true),
          driftItem('executable', 'minor', false, 'python'),
          driftItem('idna', 'minor', false),
          driftItem('torch', 'info', true)
        ]
      }
    };
    const groups = driftGroups(drift);
    expect(groups.flagged.map(i => i.name)).toEqual(['numpy', 'executable']);
    expect(groups.info.map(i => i.name)).toEqual(['torch']);
    expect(groups.unimported.map(i => i.name)).toEqual(['idna', 'six']);
    expect(driftCountText(trans, drift)).toBe('1 major · 1 minor');
  });
});

describe('rendering', () => {
  const rows = [
    cell(1),
    cell(3, {
      state: 'different',
      rng_differs: ['numpy'],
      rng_drawn: ['numpy'],
      values_differ: ['sample'],
      reason: 'drew from a differently seeded generator (numpy); values differ: sample'
    })
  ];
  const state: IReproState = {
    ...EMPTY_STATE,
    path: 'nb.ipynb',
    phase: 'ready',
    cells: cellsReply(rows),
    checks: checksReply([])
  };

  it('shows the first divergent cell with its cause as text', () => {
    const html = renderToStaticMarkup(
      React.createElement(VerdictBlock, { trans, state, onReveal: () => {}, cellLabel: label })
    );
    expect(html).toContain('Diverges at cell 4');
    expect(html).toContain(
      'Cause: drew from a differently seeded generator (numpy); values differ: sample'
    );
    expect(html).not.toMatch(/\[\d+\]/);
  });

  it('shows each differing row with its reason, and the count in the header', () => {
    const html = renderToStaticMarkup(
      React.createElement(CellsSection, { trans, cells: state.cells, onReveal: () => {} })
    );
    expect(html).toContain('<span class="jp-repro-cell-index">cell 4</span>');
    expect(html).toContain('class="jp-repro-cell-reason"');
    expect(html).toContain('1 different · 1 same');
    expect(html).not.toMatch(/\[\d+\]/);
  });

  it('folds info drift and packages not imported into one row each', () => {
    const drift: IDriftReply = {
      path: 'nb.ipynb',
      revision: 'r',
      baseline: 1,
      run: 3,
      report: {
        before: 'run 1',
        after: 'run 3',
        counts: { info: 38 },
        summary: '38 info',
        items: Array.from({ length: 38 }, (_, i) => driftItem(`pkg${i}`, 'info', false))
      }
    };
    const html = renderToStaticMarkup(React.createElement(DriftSection, { trans, drift }));
    expect(html).toContain('38 packages not imported by the notebook');
    expect(html).not.toContain(
      '<details class="jp-repro-drift-fold jp-repro-drift-unimported" open'
    );
  });

  it('counts the checklist over the rows it shows and keeps long fixes whole', () => {
    const fix = 'PYTHONHASHSEED is random in this kernel. '.repeat(5);
    const html = renderToStaticMarkup(
      React.createElement(StatusSection, {
        trans,
        status: {
          path: 'nb.ipynb',
          revision: 'r',
          notebook: 'nb.ipynb',
          store: '.repro/repro.sqlite',
          recorded: true,
          n_runs: 1,
          latest_run: null,
          baseline_run: null,
          status: {
            notebook: 'nb.ipynb',
            store: 's',
            has_record: true,
            session_id: 1,
            baseline_id: 1,
            capture: true,
            seed: null,
            seed_warnings: [],
            checklist: [
              { name: 'seeded', ok: true, detail: '' },
              { name: 'deterministic', ok: false, detail: fix },
              { name: 'cells run in order', ok: null, detail: 'unknown' }
            ],
            summary: '',
            n_runs: 1,
            score: { passed: 1, total: 2 }
          }
        }
      })
    );
    expect(html).toContain('1/3 · 1 unknown');
    expect((html.match(/jp-repro-checklist-item/g) ?? []).length).toBe(3);
    expect(html).toContain(fix.trim());
    expect(html).toContain('jp-repro-more');
  });
});
