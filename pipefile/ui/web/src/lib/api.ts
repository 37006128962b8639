// Calls to the `pipe ui` server (same origin; the token cookie was set when the page opened).

import type { ApiError } from "./types";

export class HttpError extends Error {
  constructor(
    public status: number,
    public error: ApiError,
    public body: Record<string, unknown>,
  ) {
    super(error.message);
  }
}

async function call<T>(method: string, url: string, body?: unknown): Promise<T> {
  const res = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let data: Record<string, unknown> = {};
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = { error: { message: text.slice(0, 500) || `HTTP ${res.status}` } };
  }
  if (!res.ok) {
    const err = (data.error as ApiError | undefined) ?? { message: `HTTP ${res.status} from ${url}` };
    throw new HttpError(res.status, err, data);
  }
  return data as T;
}

export const get = <T>(url: string) => call<T>("GET", url);
export const post = <T>(url: string, body?: unknown) => call<T>("POST", url, body ?? {});

export function errorText(e: unknown): string {
  if (e instanceof HttpError) {
    const where = e.error.file ? `${e.error.file}${e.error.line ? `:${e.error.line}` : ""}: ` : "";
    return `${where}${e.error.message}${e.error.hint ? ` (${e.error.hint})` : ""}`;
  }
  return e instanceof Error ? e.message : String(e);
}

export const enc = encodeURIComponent;

/** `fn` run at most once at a time: a call while it runs asks for one more run after it
 * (however many calls came), so a burst of calls is two runs, the last seeing every change.
 * (A running job's page was sent one step event per task ended, each a reload of the whole
 * job: opened after 1,500 tasks, 1,500 loads of 1.4 MB in 20 s.) */
export function coalesced(fn: () => Promise<unknown>): () => void {
  let busy = false;
  let again = false;
  const run = (): void => {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    again = false;
    fn()
      .catch(() => undefined)
      .finally(() => {
        busy = false;
        if (again) run();
      });
  };
  return run;
}
