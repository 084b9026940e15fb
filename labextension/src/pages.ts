/**
 * Which application pages the sidebar joins.
 *
 * JupyterLab is one page and sets no `notebookPage` page-config option. Notebook 7 serves one
 * page per kind of view and names it there: `tree` (the file browser), `notebooks`, `edit`,
 * `consoles` and `terminals`. The sidebar follows a notebook, so in Notebook 7 it goes into the
 * left area of notebook pages only.
 *
 * @param notebookPage - `PageConfig.getOption('notebookPage')`: `''` when the option is unset.
 */
export function sidebarBelongsOn(notebookPage: string): boolean {
  return notebookPage === '' || notebookPage === 'notebooks';
}
