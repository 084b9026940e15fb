import * as React from 'react';

import { IJob, IReproState, JobKind } from '../../tokens';
import { JobView } from './job';
import { ISectionProps, Section } from './section';

/** Export and Verify buttons with their jobs. */
export function ActionsSection(
  props: ISectionProps & {
    state: IReproState;
    onStart: (kind: JobKind) => void;
    downloadURL: (job: IJob) => string;
  }
): JSX.Element {
  const { trans, state } = props;
  const kinds: [JobKind, string][] = [
    ['export', trans.__('Export')],
    ['verify', trans.__('Verify')]
  ];
  return (
    <Section name="actions" title={trans.__('Export and verify')}>
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
            {state.jobErrors[kind] && (
              <div className="jp-repro-section-error">{state.jobErrors[kind]}</div>
            )}
          </div>
        );
      })}
    </Section>
  );
}
