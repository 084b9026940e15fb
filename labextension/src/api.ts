import { ServerConnection } from '@jupyterlab/services';

import { apiURL, requestAPI } from './request';
import {
  ICellsReply,
  IChecksReply,
  ICompareReply,
  IDriftReply,
  IJob,
  IJobStarted,
  IReproAPI,
  IRunsReply,
  IStatusReply
} from './tokens';

function query(params: Record<string, string | number | null | undefined>): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined) {
      parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`);
    }
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

/**
 * Typed calls of the repro_nb server extension, one per route in
 * repro_nb/server/ (handlers.py, reader.py).
 */
export class ReproAPI implements IReproAPI {
  constructor(
    private readonly _settings: ServerConnection.ISettings = ServerConnection.makeSettings()
  ) {}

  status(path: string): Promise<IStatusReply> {
    return requestAPI<IStatusReply>(`status${query({ path })}`, {}, this._settings);
  }

  runs(path: string): Promise<IRunsReply> {
    return requestAPI<IRunsReply>(`runs${query({ path })}`, {}, this._settings);
  }

  cells(path: string, run?: number | null, limit?: number): Promise<ICellsReply> {
    return requestAPI<ICellsReply>(`cells${query({ path, run, limit })}`, {}, this._settings);
  }

  drift(path: string): Promise<IDriftReply> {
    return requestAPI<IDriftReply>(`drift${query({ path })}`, {}, this._settings);
  }

  checks(path: string): Promise<IChecksReply> {
    return requestAPI<IChecksReply>(`checks${query({ path })}`, {}, this._settings);
  }

  compare(
    path: string,
    a?: string | number | null,
    b?: string | number | null
  ): Promise<ICompareReply> {
    return requestAPI<ICompareReply>(`compare${query({ path, a, b })}`, {}, this._settings);
  }

  startExport(path: string): Promise<IJobStarted> {
    return requestAPI<IJobStarted>(
      'export',
      { method: 'POST', body: JSON.stringify({ path }) },
      this._settings
    );
  }

  startVerify(path: string, runs = 1): Promise<IJobStarted> {
    return requestAPI<IJobStarted>(
      'verify',
      { method: 'POST', body: JSON.stringify({ path, runs }) },
      this._settings
    );
  }

  startRestore(path: string): Promise<IJobStarted> {
    return requestAPI<IJobStarted>(
      'restore',
      { method: 'POST', body: JSON.stringify({ path }) },
      this._settings
    );
  }

  job(id: string): Promise<IJob> {
    return requestAPI<IJob>(`jobs/${encodeURIComponent(id)}`, {}, this._settings);
  }

  downloadURL(id: string): string {
    return apiURL(`jobs/${encodeURIComponent(id)}/download`, this._settings);
  }
}
