import { sidebarBelongsOn } from '../pages';

describe('sidebarBelongsOn', () => {
  it('joins JupyterLab, which sets no notebookPage option', () => {
    expect(sidebarBelongsOn('')).toBe(true);
  });

  it('joins the notebook pages of Notebook 7', () => {
    expect(sidebarBelongsOn('notebooks')).toBe(true);
  });

  it('stays off the other Notebook 7 pages, which show no notebook', () => {
    for (const page of ['tree', 'edit', 'consoles', 'terminals']) {
      expect(sidebarBelongsOn(page)).toBe(false);
    }
  });
});
