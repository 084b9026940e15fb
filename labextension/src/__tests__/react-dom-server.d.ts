/**
 * The one function of react-dom/server the section tests use (react-dom comes
 * with JupyterLab's ui-components; its types are not installed here).
 */
declare module 'react-dom/server' {
  import { ReactElement } from 'react';

  export function renderToStaticMarkup(element: ReactElement): string;
}
