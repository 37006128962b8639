// The job history: filter by experiment and status, pick two to compare, open one.
import { useEffect, useState } from "react";
import { enc, errorText, get } from "../lib/api";
import { formatSeconds } from "../lib/timeline";
import { go } from "../App";

interface JobRow {
  id: string | number;
  experiment?: string;
  status: string;
  started?: number;
  ended?: number | null;
  steps?: Record<string, number>;
  params?: Record<string, unknown>;
  cloned_from?: unknown;
}

// until the server says which words a status can be (`statuses` of /api/jobs: JobStatus)
const LIMIT = 500; // jobs listed: the newest

const STATUSES = ["queued", "running", "succeeded", "failed", "interrupted", "canceled"];

export function JobsList() {
  const [jobs, setJobs] = useState<JobRow[] | null>(null);
  const [all, setAll] = useState<string[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [experiment, setExperiment] = useState("");
  const [status, setStatus] = useState("");
  const [statuses, setStatuses] = useState<string[]>(STATUSES);
  const [picked, setPicked] = useState<string[]>([]);
  const [more, setMore] = useState(false);

  useEffect(() => {
    // filters changed quickly: only the answer to the newest one is shown (an older answer
    // arriving last would list jobs the filters exclude)
    let live = true;
    const q = `experiment=${enc(experiment)}&status=${enc(status)}&limit=${LIMIT}`;
    get<{ jobs: JobRow[]; statuses?: string[]; more?: boolean; experiments?: string[] }>(`api/jobs?${q}`).then(
      (r) => {
        if (!live) return;
        setError(null);
        setJobs(r.jobs ?? []);
        setMore(r.more === true);
        // the server's words, and any word a listed job has beside them (kept once seen)
        const seen = (r.jobs ?? []).map((j) => j.status).filter(Boolean);
        setStatuses((old) => [...new Set([...(r.statuses ?? STATUSES), ...old.filter((x) => !STATUSES.includes(x)), ...seen])]);
        // every experiment of the database (the server's), not only those of the newest jobs listed
        setAll((a) => [...new Set([...a, ...(r.experiments ?? []), ...(r.jobs ?? []).map((j) => j.experiment ?? "").filter(Boolean)])].sort());
      },
      (e) => live && setError(errorText(e)),
    );
    return () => {
      live = false;
    };
  }, [experiment, status]);

  const pick = (id: string) => setPicked((p) => (p.includes(id) ? p.filter((x) => x !== id) : [...p.slice(-1), id]));
  return (
    <div className="jobs-page" data-testid="jobs-page">
      <div className="toolbar">
        <label>
          experiment{" "}
          <select value={experiment} onChange={(e) => setExperiment(e.target.value)} data-testid="filter-experiment">
            <option value="">all</option>
            {all.map((x) => (
              <option key={x}>{x}</option>
            ))}
          </select>
        </label>
        <label>
          status{" "}
          <select value={status} onChange={(e) => setStatus(e.target.value)} data-testid="filter-status">
            <option value="">all</option>
            {statuses.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <span className="grow" />
        <button className="primary" data-testid="compare" disabled={picked.length !== 2} onClick={() => go(`/compare/${enc(picked[0])}/${enc(picked[1])}`)}>
          compare {picked.length === 2 ? `${picked[0]} and ${picked[1]}` : "(pick two)"}
        </button>
      </div>
      {error && <div className="error">{error}</div>}
      {jobs && !jobs.length && <div className="muted page-error">no jobs{experiment || status ? " match" : " yet: run the pipeline"}</div>}
      <table className="jobs">
        <thead>
          <tr>
            <th />
            <th>job</th>
            <th>experiment</th>
            <th>status</th>
            <th>started</th>
            <th>took</th>
            <th>tasks</th>
            <th>params</th>
          </tr>
        </thead>
        <tbody>
          {(jobs ?? []).map((j) => {
            const id = String(j.id);
            return (
              <tr key={id} data-job={id}>
                <td>
                  <input type="checkbox" checked={picked.includes(id)} onChange={() => pick(id)} data-testid={`pick-${id}`} />
                </td>
                <td>
                  <a href={`#/jobs/${enc(id)}`} data-testid={`job-${id}`}>
                    {id}
                  </a>
                  {j.cloned_from != null && <span className="muted small"> (from {String(j.cloned_from)})</span>}
                </td>
                <td>{j.experiment}</td>
                <td>
                  <span className={`badge status-${j.status}`}>{j.status}</span>
                </td>
                <td className="small">{j.started ? new Date(j.started * 1000).toLocaleString() : ""}</td>
                <td className="small">{j.started && j.ended ? formatSeconds(j.ended - j.started) : ""}</td>
                <td className="small">
                  {Object.entries(j.steps ?? {})
                    .map(([k, v]) => `${v} ${k}`)
                    .join(", ")}
                </td>
                <td className="small">
                  <code>{Object.entries(j.params ?? {}).map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : String(v)}`).join(" ")}</code>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {more && (
        <div className="muted small" data-testid="jobs-more">
          the newest {LIMIT} jobs{experiment || status ? " that match" : ""} are shown, older ones are not: choose an experiment or a status, or open a job by its number (#/jobs/ID; `pipe jobs --all -n 0` lists them all)
        </div>
      )}
    </div>
  );
}
