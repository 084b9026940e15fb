import * as React from 'react';

import { IJob, IReproState, JobKind } from '../../tokens';
import { JobView } from './job';
import { ISectionProps, Section } from './section';

/** Export, Verify and Restore buttons with their jobs. */
export function ActionsSection(
  props: ISectionProps & {
    state: IReproState;
    onStart: (kind: JobKind) => void;
    downloadURL: (job: IJob) => string;
    /** Switch the notebook to a kernel by name (the restored environment's). */
    onSwitchKernel?: (name: string) => void;
  }
): JSX.Element {
  const { trans, state } = props;
  const kinds: [JobKind, string][] = [
    ['export', trans.__('Export')],
    ['verify', trans.__('Verify')],
    ['restore', trans.__('Restore environment…')]
  ];
  return (
    <Section name="actions" title={trans.__('Export, verify, restore')}>
      {kinds.map(([kind, label]) => {
        const job = state.jobs[kind];
        const busy = job !== undefined && (job.state === 'queued' || job.state === 'running');
        return (
          <div key={kind} className="jp-repro-action">
            <button
              className={`jp-Button jp-mod-styled jp-mod-accept jp-repro-${kind}-button`}
              disabled={busy || state.path === null}
              onClick={() => props.onStart(kind)}
            >
              {label}
            </button>
            {job && (
              <JobView
                trans={trans}
                job={job}
                downloadURL={job.kind === 'export' && job.download ? props.downloadURL(job) : null}
              />
            )}
            {job &&
              job.kind === 'restore' &&
              job.state === 'done' &&
              typeof job.result?.kernel_name === 'string' &&
              props.onSwitchKernel && (
                <button
                  className="jp-Button jp-mod-styled jp-repro-switch-kernel"
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
    </Section>
  );
}
