import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/**
 * The URL namespace of the repro_nb server extension (see repro_nb/server/ (handlers.py, reader.py)).
 */
export const API_NAMESPACE = ['repro-nb', 'api'];

/**
 * An error from the repro_nb server extension, carrying its HTTP status and
 * the one-line `message` the handler wrote.
 */
export class ReproAPIError extends Error {
  constructor(
    message: string,
    readonly status: number
  ) {
    super(message);
    this.name = 'ReproAPIError';
  }
}

/**
 * Build the full URL of an endpoint (used for links such as downloads).
 */
export function apiURL(
  endPoint: string,
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): string {
  return URLExt.join(settings.baseUrl, ...API_NAMESPACE, endPoint);
}

/**
 * Call a repro_nb REST endpoint and decode its JSON reply.
 *
 * @param endPoint - path under `/repro-nb/api/`, query string included
 * @param init - fetch options (method, body)
 * @param settings - server connection settings (the default ones when omitted)
 * @returns the decoded JSON body
 * @throws ReproAPIError with the server's `message` when the reply is not 2xx,
 *   or when the server cannot be reached
 */
export async function requestAPI<T>(
  endPoint = '',
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = apiURL(endPoint, settings);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ReproAPIError(
      `The Jupyter server could not be reached (${String(error)}); check that it is running.`,
      0
    );
  }
  const text = await response.text();
  let data: unknown = null;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const message =
      data !== null &&
      typeof data === 'object' &&
      typeof (data as { message?: unknown }).message === 'string'
        ? (data as { message: string }).message
        : `${response.status} ${response.statusText} from ${endPoint}`;
    throw new ReproAPIError(message, response.status);
  }
  return data as T;
}
