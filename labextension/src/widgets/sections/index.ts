/**
 * The sidebar's sections, one file each; the sidebar imports them from here.
 */
export { ActionsToolbar, JobsArea } from './actions';
export type { ActionName } from './actions';
export { CellsSection } from './cells';
export { ChecksSection } from './checks';
export { CompareSection } from './compare';
export { DriftSection } from './drift';
export { JobView } from './job';
export { Mark, Section } from './section';
export type { ISectionProps, ISectionToggle } from './section';
export { StatusSection } from './status';
export { cellReason, VerdictBlock } from './verdict';
