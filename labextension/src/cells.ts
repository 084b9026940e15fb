import { ICellDiff } from './tokens';

/**
 * What `findCellIndex` reads of a notebook cell: its nbformat id and source.
 * JupyterLab's cell widgets (`NotebookPanel.content.widgets`) have this shape.
 */
export interface INotebookCellLike {
  readonly model: {
    readonly id: string;
    /** `code`, `markdown` or `raw` (JupyterLab's `ICellModel.type`). */
    readonly type?: string;
    readonly sharedModel: { getSource(): string };
  };
}

/**
 * How a cell is named to people, the same in the CLI, the reports, the panel
 * and this sidebar: `cell 5 (code cell 3)`.
 *
 * @param index - the cell's 0-based position among all cells, markdown included
 * @param codeCell - its 1-based number among code cells, when known
 * @returns `cell N` (1-based), with `(code cell M)` when the number is known and
 * differs from N (a notebook of code cells only reads `cell 3`, not `cell 3 (code cell 3)`)
 */
export function cellLabel(index: number | null, codeCell: number | null = null): string {
  if (index === null || index < 0) {
    return 'cell ?';
  }
  const n = index + 1;
  return `cell ${n}` + (codeCell && codeCell !== n ? ` (code cell ${codeCell})` : '');
}

/**
 * The 1-based number of the cell at `index` among the notebook's code cells.
 *
 * @param cells - the open notebook's cells, in order
 * @param index - a 0-based position in `cells`
 * @returns its number among code cells, or null when it is not a code cell
 */
export function codeCellNumber(cells: readonly INotebookCellLike[], index: number): number | null {
  if (index < 0 || index >= cells.length || cells[index].model.type !== 'code') {
    return null;
  }
  let n = 0;
  for (let i = 0; i <= index; i++) {
    if (cells[i].model.type === 'code') {
      n++;
    }
  }
  return n;
}

/**
 * The label of a row of the cells reply: its place in the open notebook when
 * it is there (`cell 5 (code cell 3)`), else the recorded 0-based index.
 *
 * @param cells - the open notebook's cells, in order (empty when none is open)
 * @param cell - a row of the `cells` reply
 */
export function cellDiffLabel(cells: readonly INotebookCellLike[], cell: ICellDiff): string {
  const index = findCellIndex(cells, cell);
  if (index >= 0) {
    return cellLabel(index, codeCellNumber(cells, index));
  }
  return cellLabel(cell.index);
}

/**
 * Find the notebook cell a row of the cells section stands for: by nbformat
 * cell id, else by recorded index, else by the start of its source.
 *
 * @param cells - the open notebook's cells, in order
 * @param cell - a row of the `cells` reply
 * @returns the cell's 0-based position in `cells`, or -1 when it is not there
 */
export function findCellIndex(cells: readonly INotebookCellLike[], cell: ICellDiff): number {
  if (cell.cell_id) {
    const byId = cells.findIndex(w => w.model.id === cell.cell_id);
    if (byId >= 0) {
      return byId;
    }
  }
  const excerpt = cell.excerpt.replace(/…$/, '').trim();
  if (cell.index !== null && cell.index >= 0 && cell.index < cells.length) {
    const candidate = cells[cell.index];
    if (!excerpt || candidate.model.sharedModel.getSource().trim().startsWith(excerpt)) {
      return cell.index;
    }
  }
  if (excerpt) {
    return cells.findIndex(w => w.model.sharedModel.getSource().trim().startsWith(excerpt));
  }
  return -1;
}
