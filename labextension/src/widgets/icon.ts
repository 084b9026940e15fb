import { LabIcon } from '@jupyterlab/ui-components';

/**
 * The repro_nb icon: two stacked pages, the front one with a check mark (a
 * notebook and its reproduction that matches). Nothing like the refresh
 * arrow. Inlined so the prebuilt bundle needs no svg loader configuration;
 * `jp-icon3` lets the theme colour it.
 */
const svgstr = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M8 2h9l4 4v11a1 1 0 0 1-1 1h-1V7.4L15.6 4H7V3a1 1 0 0 1 1-1z"/>
    <path d="M4 6a1 1 0 0 1 1-1h8.6L17 8.4V21a1 1 0 0 1-1 1H5a1 1 0 0 1-1-1zm2 1v13h9V9h-3V7z"/>
    <path d="M7.3 14.6l1.4-1.4 1.6 1.6 3.5-3.5 1.4 1.4-4.9 4.9z"/>
  </g>
</svg>`;

export const reproIcon = new LabIcon({ name: 'repro-nb:icon', svgstr });
