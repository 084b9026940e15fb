import { ICellDiff } from './tokens';

/**
 * What `findCellIndex` reads of a notebook cell: its nbformat id and source.
 * JupyterLab's cell widgets (`NotebookPanel.content.widgets`) have this shape.
 */
export interface INotebookCellLike {
  readonly model: {
    readonly id: string;
    readonly sharedModel: { getSource(): string };
  };
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
