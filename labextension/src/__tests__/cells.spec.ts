import {
  cellDiffLabel,
  cellLabel,
  codeCellNumber,
  findCellIndex,
  INotebookCellLike
} from '../cells';
import { ICellDiff } from '../tokens';

/** Stand-ins for JupyterLab's cell widgets: an id and a source each. */
function notebook(...cells: [string, string][]): INotebookCellLike[] {
  return cells.map(([id, source]) => ({
    model: { id, sharedModel: { getSource: () => source } }
  }));
}

/** A row of the cells reply; only the fields findCellIndex reads matter. */
function row(fields: Partial<ICellDiff>): ICellDiff {
  return {
    key: 'k',
    index: null,
    cell_id: null,
    excerpt: '',
    state: 'same',
    rng_differs: [],
    rng_drawn: [],
    generators_differ: [],
    values_differ: [],
    values_new: [],
    values_missing: [],
    files_differ: [],
    error: null,
    reason: 'same',
    ...fields
  };
}

const CELLS = notebook(['a', 'import numpy as np'], ['b', 'x = 1'], ['c', '  x = x + 1\nprint(x)']);

describe('findCellIndex', () => {
  it('finds a cell by its nbformat id first', () => {
    expect(findCellIndex(CELLS, row({ cell_id: 'c', index: 0, excerpt: 'x = 1' }))).toBe(2);
  });

  it('falls back to the recorded index when its source starts with the excerpt', () => {
    expect(findCellIndex(CELLS, row({ cell_id: 'gone', index: 1, excerpt: 'x = 1' }))).toBe(1);
  });

  it('trusts the index alone when there is no excerpt', () => {
    expect(findCellIndex(CELLS, row({ index: 2 }))).toBe(2);
  });

  it('searches by source when the index points at another cell', () => {
    expect(findCellIndex(CELLS, row({ index: 0, excerpt: 'x = x + 1…' }))).toBe(2);
  });

  it('ignores an index outside the notebook', () => {
    expect(findCellIndex(CELLS, row({ index: 7, excerpt: 'import numpy' }))).toBe(0);
    expect(findCellIndex(CELLS, row({ index: -1 }))).toBe(-1);
  });

  it('returns -1 when nothing matches', () => {
    expect(findCellIndex(CELLS, row({ cell_id: 'zz', excerpt: 'y = 2' }))).toBe(-1);
    expect(findCellIndex([], row({ index: 0, excerpt: 'x' }))).toBe(-1);
  });
});

/** Cells with a type: [id, type, source]. */
function typed(...cells: [string, string, string][]): INotebookCellLike[] {
  return cells.map(([id, type, source]) => ({
    model: { id, type, sharedModel: { getSource: () => source } }
  }));
}

const MIXED = typed(
  ['t', 'markdown', '# Title'],
  ['a', 'code', 'import numpy as np'],
  ['m', 'markdown', 'Now the clock'],
  ['b', 'code', 'print(now())'],
  ['r', 'raw', 'raw text'],
  ['c', 'code', 'x = 1']
);

describe('cellLabel', () => {
  it('names cells 1-based, with the code-cell number when known', () => {
    expect(cellLabel(4, 3)).toBe('cell 5 (code cell 3)');
    // No markdown before it: the numbers agree, and the label says it once.
    expect(cellLabel(2, 3)).toBe('cell 3');
    expect(cellLabel(0)).toBe('cell 1');
    expect(cellLabel(null)).toBe('cell ?');
  });
});

describe('codeCellNumber', () => {
  it('counts code cells only, markdown and raw skipped', () => {
    expect(codeCellNumber(MIXED, 1)).toBe(1);
    expect(codeCellNumber(MIXED, 3)).toBe(2);
    expect(codeCellNumber(MIXED, 5)).toBe(3);
  });

  it('is null for a cell that is not code or not there', () => {
    expect(codeCellNumber(MIXED, 0)).toBeNull();
    expect(codeCellNumber(MIXED, 9)).toBeNull();
    expect(codeCellNumber(MIXED, -1)).toBeNull();
  });
});

describe('cellDiffLabel', () => {
  it('labels a row by its place in the open notebook', () => {
    expect(cellDiffLabel(MIXED, row({ cell_id: 'b', index: 3 }))).toBe('cell 4 (code cell 2)');
  });

  it('follows the cell when it moved since the run', () => {
    expect(cellDiffLabel(MIXED, row({ cell_id: 'c', index: 1 }))).toBe('cell 6 (code cell 3)');
  });

  it('falls back to the recorded 0-based index, shown 1-based', () => {
    expect(cellDiffLabel([], row({ index: 2, excerpt: 'y' }))).toBe('cell 3');
    expect(cellDiffLabel([], row({}))).toBe('cell ?');
  });
});
