import { findCellIndex, INotebookCellLike } from '../cells';
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
