import * as React from 'react';

import { IJob } from '../../tokens';
import { ISectionProps } from './section';

/** One export or verify job: progress, message, verdict and download link. */
export function JobView(
  props: ISectionProps & { job: IJob; downloadURL: string | null }
): JSX.Element {
  const { trans, job } = props;
  const result = job.result ?? {};
  const verdict = typeof result.verdict === 'string' ? result.verdict : null;
  return (
    <div
      className={`jp-repro-job jp-repro-job-${job.kind} jp-repro-job-${job.state}`}
      data-state={job.state}
    >
      {(job.state === 'queued' || job.state === 'running') && (
        <progress className="jp-repro-progress" max={1} value={job.progress} />
      )}
      <div className="jp-repro-job-message">{job.message}</div>
      {job.state === 'done' && verdict && (
        <div
          className={`jp-repro-verdict ${
            verdict.startsWith('reproduced')
              ? 'jp-repro-verdict-ok'
              : verdict === 'diverged'
                ? 'jp-repro-verdict-diverged'
                : 'jp-repro-verdict-error'
          }`}
          data-verdict={verdict}
        >
          {verdict}
        </div>
      )}
      {job.state === 'done' && props.downloadURL && (
        <a className="jp-repro-download" href={props.downloadURL} download>
          {trans.__('Download bundle')}
        </a>
      )}
    </div>
  );
}
