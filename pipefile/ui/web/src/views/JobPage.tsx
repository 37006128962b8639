// One job: its graph coloured by outcome as it runs (server-sent events), durations, a
// timeline, each step's log streamed, output previews, metrics and params; cancel, clone.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { coalesced, enc, errorText, get, post } from "../lib/api";
import { readEvents } from "../lib/sse";
import { appendLines, MAX_LOG_LINES, noLines, type LogLines } from "../lib/logLines";
import { formatSeconds, timelineBars } from "../lib/timeline";
import { visibleGraph } from "../lib/graphModel";
import { lineageKey, loadDraft, saveDraft } from "../lib/draftStore";
import type { Graph, GraphNode, Pipeline, Operation } from "../lib/types";
import { go } from "../App";
import { Canvas } from "./Canvas";

export interface StepRecord {
  step: string;
  outcome?: string;
  seconds?: number | null;
  started?: number | null;
  finished?: number | null;
  outputs?: Record<string, unknown>;
  error?: string | null;
  exit_code?: number | null;
}
export interface Job {
  id: string | number;
  status: string;
  experiment?: string;
  started?: number;
  ended?: number | null;
  params?: Record<string, unknown>;
  metrics?: Record<string, unknown>;
  argv?: string[];
  cloned_from?: unknown;
  steps: StepRecord[];
  graph?: Graph | null;
}

const FINISHED = new Set(["ran", "restored", "fresh", "failed", "skipped"]);

export function jobGraph(job: Job): Graph {
  if (job.graph) return job.graph;
  return { nodes: job.steps.map((s) => ({ name: s.step, kind: "step", state: s.outcome })), edges: [] };
}

function Table({ rows, testid }: { rows: [string, unknown][]; testid?: string }) {
  if (!rows.length) return <div className="muted small">none</div>;
  return (
    <table className="kv" data-testid={testid}>
      <tbody>
        {rows.map(([k, v]) => (
          <tr key={k}>
            <td>{k}</td>
            <td>
              <code>{typeof v === "object" ? JSON.stringify(v) : String(v)}</code>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function flatten(obj: Record<string, unknown> | undefined, prefix = ""): [string, unknown][] {
  const out: [string, unknown][] = [];
  for (const [k, v] of Object.entries(obj ?? {}))
    if (v && typeof v === "object" && !Array.isArray(v)) out.push(...flatten(v as Record<string, unknown>, `${prefix}${k}.`));
    else out.push([`${prefix}${k}`, v]);
  return out;
}

interface PreviewData {
  kind: string;
  columns?: string[];
  rows?: unknown[][] | Record<string, unknown>[];
  entries?: unknown[];
  text?: string;
  data_url?: string | null;
  note?: string;
  truncated?: boolean;
  size?: number;
}

/** What a preview leaves out, said under it: a table's first rows, a text's first 256 KiB, a
 * folder's first entries, and the server's note on why a file is not shown as its kind. */
function previewLimits(p: PreviewData): string[] {
  const out: string[] = [];
  if (p.truncated) {
    const size = p.size != null ? ` of ${formatBytes(p.size)}` : "";
    const part = p.kind === "table" ? `the first ${p.rows?.length ?? 0} rows` : p.kind === "folder" ? `the first ${p.entries?.length ?? 0} entries` : "the start";
    out.push(`only ${part}${size} shown`);
  }
  if (p.note) out.push(p.note);
  return out;
}

function formatBytes(n: number): string {
  return n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} bytes`;
}

function OutputPreview({ url, name }: { url: string; name: string }) {
  const [p, setP] = useState<PreviewData | null>(null);
  const [err, setErr] = useState<string | null>(null);
  useEffect(() => {
    get<PreviewData>(url).then(setP, (e) => setErr(errorText(e)));
  }, [url]);
  let body;
  if (err) body = <div className="error small">{err}</div>;
  else if (!p) body = <div className="muted small">loading…</div>;
  else if (p.kind === "table")
    body = (
      <div className="scroll-x">
        <table className="data">
          <thead>
            <tr>
              {(p.columns ?? []).map((c) => (
                <th key={c}>{c}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {(p.rows ?? []).map((r, i) => (
              <tr key={i}>
                {(Array.isArray(r) ? r : (p.columns ?? []).map((c) => (r as Record<string, unknown>)[c])).map((v, j) => (
                  <td key={j}>{String(v)}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    );
  else if (p.kind === "image" && p.data_url?.startsWith("data:image/")) body = <img src={p.data_url} alt={name} className="preview-img" />;
  else if (p.kind === "json") body = <pre className="log">{(() => { try { return JSON.stringify(JSON.parse(p.text ?? ""), null, 2); } catch { return p.text; } })()}</pre>;
  else if (p.kind === "folder") body = <ul>{(p.entries ?? []).map((e, i) => <li key={i}><code>{typeof e === "object" ? JSON.stringify(e) : String(e)}</code></li>)}</ul>;
  else if (p.kind === "text") body = <pre className="log">{p.text}</pre>;
  else body = <div className="muted small">{p.kind}: no preview</div>;
  return (
    <div className="output" data-testid={`preview-${name}`} data-kind={p?.kind ?? ""}>
      <div className="muted small">
        output <b>{name}</b> {p?.kind}
      </div>
      {body}
      {p && previewLimits(p).length > 0 && (
        <div className="muted small" data-testid={`preview-note-${name}`}>
          {previewLimits(p).join("; ")}
        </div>
      )}
    </div>
  );
}

function Log({ job, step, live }: { job: string; step: string; live: boolean }) {
  const [log, setLog] = useState<LogLines>(noLines);
  const [err, setErr] = useState<string | null>(null);
  const box = useRef<HTMLPreElement>(null);
  useEffect(() => {
    const ctl = new AbortController();
    setLog(noLines);
    setErr(null);
    // lines are shown in batches (one render per 100 ms, not one per line), the newest
    // MAX_LOG_LINES kept: a step printing thousands of lines a second froze the page
    let pending: string[] = [];
    let timer: ReturnType<typeof setTimeout> | null = null;
    const flush = () => {
      timer = null;
      const add = pending;
      pending = [];
      setLog((l) => appendLines(l, add));
    };
    const url = `api/jobs/${enc(job)}/steps/${enc(step)}/log?follow=1`;
    readEvents(
      url,
      (ev) => {
        if (ev.event !== "line") return;
        let t: string;
        try {
          t = (JSON.parse(ev.data).text as string).replace(/\n$/, "");
        } catch {
          t = ev.data;
        }
        pending.push(t);
        if (timer === null) timer = setTimeout(flush, 100);
      },
      ctl.signal,
    )
      .then(() => {
        if (timer !== null) clearTimeout(timer);
        if (!ctl.signal.aborted) flush();
      })
      .catch((e) => {
        if (!ctl.signal.aborted) setErr(errorText(e));
      });
    return () => {
      ctl.abort();
      if (timer !== null) clearTimeout(timer);
    };
  }, [job, step, live]);
  useEffect(() => {
    if (box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [log]);
  return (
    <div>
      {err && <div className="error small">{err}</div>}
      <pre className="log" data-testid="log" ref={box}>
        {log.dropped > 0 && `[${log.dropped} earlier lines not shown here: the page keeps the last ${MAX_LOG_LINES}]\n`}
        {log.lines.join("\n")}
      </pre>
    </div>
  );
}

export function JobPage({ id }: { id: string }) {
  const [job, setJob] = useState<Job | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [live, setLive] = useState<Record<string, string>>({});
  const [selected, setSelected] = useState<string | null>(null);
  const [tab, setTab] = useState<"graph" | "timeline">("graph");
  const [notice, setNotice] = useState<string | null>(null);

  // one load at a time: every step event asks for one, and they come by the thousand
  const load = useMemo(() => coalesced(() => get<Job>(`api/jobs/${enc(id)}`).then(setJob, (e) => setError(errorText(e)))), [id]);
  useEffect(() => {
    load();
  }, [load]);

  const running = job ? !["succeeded", "failed", "cancelled", "canceled", "interrupted"].includes(job.status) : false;
  useEffect(() => {
    if (!running) return;
    const ctl = new AbortController();
    readEvents(
      `api/jobs/${enc(id)}/events`,
      (ev) => {
        if (ev.event === "step") {
          try {
            const d = JSON.parse(ev.data);
            const st = d.outcome ?? d.status;
            if (d.step && st) setLive((l) => ({ ...l, [d.step]: st }));
            if (d.outcome && FINISHED.has(d.outcome)) load();
          } catch {
            // a line we do not know: the next load shows the truth
          }
        } else if (ev.event === "end") load();
      },
      ctl.signal,
    ).catch(() => undefined);
    // the stream says what changed; a slow poll fills in durations even if it breaks
    const t = setInterval(load, 2000);
    return () => {
      ctl.abort();
      clearInterval(t);
    };
  }, [id, running, load]);

  const graph = useMemo(() => (job ? jobGraph(job) : { nodes: [], edges: [] }), [job]);
  // every group unfolded: each drawn as a frame around its members
  const groups = useMemo(() => new Set(graph.nodes.filter((n) => n.kind !== "step").map((n) => n.name)), [graph]);
  const visible = useMemo(() => visibleGraph(graph, groups), [graph, groups]);
  const recs = useMemo(() => new Map((job?.steps ?? []).map((s) => [s.step, s])), [job]);
  const stateOf = useCallback((n: GraphNode) => live[n.name] ?? recs.get(n.name)?.outcome ?? n.state ?? "pending", [live, recs]);
  const hoverText = useCallback(
    (n: GraphNode) => {
      const r = recs.get(n.name);
      return [`${stateOf(n)}${r?.seconds != null ? ` in ${formatSeconds(r.seconds)}` : ""}`, ...(r?.error ? [r.error] : []), ...(n.reasons ?? [])];
    },
    [recs, stateOf],
  );

  if (error) return <div className="error page-error">{error}</div>;
  if (!job) return <div className="muted page-error">loading…</div>;
  const rec = selected ? recs.get(selected) : undefined;
  const { bars, total } = timelineBars(
    job.steps.map((s) => ({ ...s, outcome: live[s.step] ?? s.outcome })),
    600,
  );

  const clone = async () => {
    try {
      const r = await post<{ draft: { text: string; operations: Operation[] }; lineage: Record<string, unknown> }>(`api/jobs/${enc(id)}/clone`);
      const p = await get<Pipeline>("api/pipeline");
      const d = loadDraft(p.digest) ?? { ops: [], redo: [] };
      saveDraft(p.digest, { ops: [...d.ops, ...(r.draft.operations ?? [])], redo: [] });
      localStorage.setItem(lineageKey(p.digest), JSON.stringify(r.lineage ?? { cloned_from: id }));
      go("/");
    } catch (e) {
      setNotice(errorText(e));
    }
  };

  return (
    <div className="job-page" data-testid="job-page" data-status={job.status}>
      <div className="toolbar">
        <b>job {String(job.id)}</b>
        <span className={`badge status-${job.status}`} data-testid="job-status">
          {job.status}
        </span>
        {job.experiment && <span className="muted">experiment {job.experiment}</span>}
        {job.started && <span className="muted small">{new Date(job.started * 1000).toLocaleString()}</span>}
        {job.ended && job.started && <span className="muted small">{formatSeconds(job.ended - job.started)}</span>}
        {job.argv && <code className="small">pipe {job.argv.join(" ")}</code>}
        <span className="grow" />
        <button className={tab === "graph" ? "active" : ""} onClick={() => setTab("graph")} data-testid="tab-graph">
          graph
        </button>
        <button className={tab === "timeline" ? "active" : ""} onClick={() => setTab("timeline")} data-testid="tab-timeline">
          timeline
        </button>
        <button data-testid="clone" onClick={clone}>
          clone to draft
        </button>
        <button data-testid="cancel" className="danger" disabled={!running} onClick={() => post(`api/jobs/${enc(id)}/cancel`).then(load, (e) => setNotice(errorText(e)))}>
          cancel
        </button>
      </div>
      {job.cloned_from != null && <div className="banner">cloned from job {String(job.cloned_from)}</div>}
      {notice && <div className="banner error">{notice}</div>}
      <div className="workspace">
        <div className="side">
          <table className="steps" data-testid="job-steps">
            <tbody>
              {graph.nodes
                .filter((n) => n.kind === "step")
                .map((n) => {
                  const r = recs.get(n.name);
                  return (
                    <tr key={n.name} className={selected === n.name ? "selected" : ""} onClick={() => setSelected(n.name)} data-row={n.name}>
                      <td>
                        <span className={`dot state-${stateOf(n)}`} />
                      </td>
                      <td>{n.name}</td>
                      <td className="muted small">{stateOf(n)}</td>
                      <td className="muted small">{formatSeconds(r?.seconds ?? n.seconds)}</td>
                    </tr>
                  );
                })}
            </tbody>
          </table>
          <h4>params</h4>
          <Table rows={flatten(job.params)} testid="job-params" />
          <h4>metrics</h4>
          <Table rows={flatten(job.metrics)} testid="job-metrics" />
        </div>
        {tab === "graph" ? (
          <Canvas graph={visible} expanded={groups} direction="RIGHT" stateOf={stateOf} hoverText={hoverText} selected={selected} onSelect={setSelected} onOpen={setSelected} />
        ) : (
          <div className="timeline" data-testid="timeline">
            <svg width={150 + 600 + 90} height={bars.length * 24 + 30}>
              {bars.map((b, i) => (
                <g key={b.step} transform={`translate(150, ${i * 24 + 4})`} data-bar={b.step} onClick={() => setSelected(b.step)}>
                  <text x={-6} y={14} textAnchor="end" className="bar-label">
                    {b.step}
                  </text>
                  <rect x={b.x} width={b.width} height={18} className={`bar state-${b.outcome}`} />
                  <text x={b.x + b.width + 4} y={14} className="bar-label muted">
                    {formatSeconds(b.seconds)}
                  </text>
                </g>
              ))}
              <text x={150} y={bars.length * 24 + 22} className="bar-label muted">
                0 → {formatSeconds(total)}
              </text>
            </svg>
            {!bars.length && <div className="muted">no task has started yet</div>}
          </div>
        )}
        {selected && (
          <aside className="properties" data-testid="step-panel">
            <header>
              <b>{selected}</b> <span className="muted small">{live[selected] ?? rec?.outcome ?? ""}</span>
              {rec?.seconds != null && <span className="muted small"> {formatSeconds(rec.seconds)}</span>}
              <button className="close" onClick={() => setSelected(null)}>
                ×
              </button>
            </header>
            {rec?.error && <div className="error">{rec.error}</div>}
            <h4>log</h4>
            <Log job={String(job.id)} step={selected} live={running} />
            <h4>outputs</h4>
            {Object.keys(rec?.outputs ?? {}).map((o) => (
              <OutputPreview key={o} name={o} url={`api/jobs/${enc(String(job.id))}/steps/${enc(selected)}/outputs/${enc(o)}/preview`} />
            ))}
            {!Object.keys(rec?.outputs ?? {}).length && <div className="muted small">none recorded</div>}
          </aside>
        )}
      </div>
    </div>
  );
}
