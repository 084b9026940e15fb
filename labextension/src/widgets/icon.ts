import { LabIcon } from '@jupyterlab/ui-components';

/**
 * The repro_nb icon (a circular arrow around a check mark). Inlined so the
 * prebuilt bundle needs no svg loader configuration.
 */
const svgstr = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M12 4a8 8 0 0 1 7.75 6h-2.1A6 6 0 1 0 18 14.6l1.6 1.2A8 8 0 1 1 12 4z"/>
    <path d="M22 5v6h-6l2.3-2.3z"/>
    <path d="M10.6 15.8l-3.2-3.2 1.4-1.4 1.8 1.8 4.6-4.6 1.4 1.4z"/>
  </g>
</svg>`;

export const reproIcon = new LabIcon({ name: 'repro-nb:icon', svgstr });
