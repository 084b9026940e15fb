import * as React from 'react';

import { IJob, IReproState, JobKind } from '../../tokens';
import { JobView } from './job';
import { ISectionProps } from './section';

/** The toolbar's actions: the three jobs and the comparison of two runs. */
export type ActionName = JobKind | 'compare';

/**
 * Export, Verify, Restore and Compare as a toolbar at the top of the sidebar
 * (JupyterLab's toolbar button look, as in jupyterlab-git), each with a label.
 * Icons come from the caller (JupyterLab's LabIcons) so this renders in tests.
 */
export function ActionsToolbar(
  props: ISectionProps & {
    state: IReproState;
    onStart: (kind: JobKind) => void;
    onCompare: () => void;
    icons?: Partial<Record<ActionName, React.ReactNode>>;
  }
): JSX.Element {
  const { trans, state } = props;
  const actions: [ActionName, string, string][] = [
    [
      'export',
      trans.__('Export'),
      trans.__('Export a reproducibility bundle (zip) of the notebook')
    ],
    [
      'verify',
      trans.__('Verify'),
      trans.__('Run the notebook in fresh kernels and compare with the record')
    ],
    [
      'restore',
      trans.__('Restore'),
      trans.__("Rebuild the notebook's environment as a new kernel")
    ],
    ['compare', trans.__('Compare'), trans.__('Compare two recorded runs side by side')]
  ];
  return (
    <div className="jp-Toolbar jp-repro-toolbar" role="toolbar">
      {actions.map(([name, label, tooltip]) => {
        const job = name === 'compare' ? undefined : state.jobs[name];
        const busy = job !== undefined && (job.state === 'queued' || job.state === 'running');
        const disabled =
          busy || state.path === null || (name === 'compare' && state.phase !== 'ready');
        return (
          <button
            key={name}
            type="button"
            className={`jp-ToolbarButtonComponent jp-Button jp-mod-minimal jp-repro-tool jp-repro-${name}-button`}
            title={tooltip}
            aria-label={label}
            disabled={disabled}
            aria-busy={busy}
            onClick={() =>
              name === 'compare' ? props.onCompare() : props.onStart(name as JobKind)
            }
          >
            {props.icons?.[name]}
            <span className="jp-ToolbarButtonComponent-label">{label}</span>
          </button>
        );
      })}
    </div>
  );
}

/** The jobs started from the toolbar: progress, message, verdict, download, kernel switch. */
export function JobsArea(
  props: ISectionProps & {
    state: IReproState;
    downloadURL: (job: IJob) => string;
    /** Switch the notebook to a kernel by name (the restored environment's). */
    onSwitchKernel?: (name: string) => void;
    downloadIcon?: React.ReactNode;
  }
): JSX.Element | null {
  const { trans, state } = props;
  const kinds: JobKind[] = ['export', 'verify', 'restore'];
  const shown = kinds.filter(kind => state.jobs[kind] || state.jobErrors[kind]);
  if (shown.length === 0) {
    return null;
  }
  const titles: Record<JobKind, string> = {
    export: trans.__('Export'),
    verify: trans.__('Verify'),
    restore: trans.__('Restore')
  };
  return (
    <div className="jp-repro-jobs">
      {shown.map(kind => {
        const job = state.jobs[kind];
        return (
          <div key={kind} className="jp-repro-action" data-kind={kind}>
            <span className="jp-repro-action-name">{titles[kind]}</span>
            {job && (
              <JobView
                trans={trans}
                job={job}
                downloadURL={job.kind === 'export' && job.download ? props.downloadURL(job) : null}
                downloadIcon={props.downloadIcon}
              />
            )}
            {job &&
              job.kind === 'restore' &&
              job.state === 'done' &&
              typeof job.result?.kernel_name === 'string' &&
              props.onSwitchKernel && (
                <button
                  className="jp-Button jp-mod-styled jp-mod-accept jp-repro-switch-kernel"
                  title={trans.__('Use the restored environment for this notebook')}
                  onClick={() => props.onSwitchKernel!(job.result!.kernel_name as string)}
                >
                  {trans.__('Switch to kernel %1', job.result.kernel_name as string)}
                </button>
              )}
            {state.jobErrors[kind] && (
              <div className="jp-repro-section-error">{state.jobErrors[kind]}</div>
            )}
          </div>
        );
      })}
    </div>
  );
}
