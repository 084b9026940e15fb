import * as React from 'react';

import { IJob } from '../../tokens';
import { ISectionProps } from './section';

/** One export or verify job: progress, message, verdict and download link. */
export function JobView(
  props: ISectionProps & {
    job: IJob;
    downloadURL: string | null;
    downloadIcon?: React.ReactNode;
  }
): JSX.Element {
  const { trans, job } = props;
  const result = job.result ?? {};
  const verdict = typeof result.verdict === 'string' ? result.verdict : null;
  const level = typeof result.level === 'string' && result.level ? result.level : null;
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
          {level && !verdict.includes(level) ? trans.__('%1 (%2)', verdict, level) : verdict}
        </div>
      )}
      {job.state === 'done' && props.downloadURL && (
        <a
          className="jp-Button jp-mod-styled jp-mod-accept jp-repro-download"
          href={props.downloadURL}
          download
          title={trans.__('Download the bundle as a zip file')}
        >
          {props.downloadIcon}
          <span>{trans.__('Download bundle')}</span>
        </a>
      )}
    </div>
  );
}
