// Two jobs side by side: the graph coloured only-A / only-B / changed / same, and the property
// table (params, input digests, code, environment, metrics) with "only differences".
import { useCallback, useEffect, useMemo, useState } from "react";
import { enc, errorText, get } from "../lib/api";
import { visibleGraph } from "../lib/graphModel";
import type { Graph, GraphNode } from "../lib/types";
import { Canvas } from "./Canvas";
import { jobGraph, type Job } from "./JobPage";

interface Comparison {
  a: unknown;
  b: unknown;
  steps: { only_a: string[]; only_b: string[]; changed: string[]; same: string[] };
  properties: { what: string; step: string | null; name: string; a: unknown; b: unknown; same: boolean }[];
}

const txt = (v: unknown) => (v === undefined || v === null ? "—" : typeof v === "object" ? JSON.stringify(v) : String(v));

function union(a: Graph, b: Graph): Graph {
  const names = new Set(b.nodes.map((n) => n.name));
  const nodes: GraphNode[] = [...b.nodes, ...a.nodes.filter((n) => !names.has(n.name))];
  const ek = (e: Graph["edges"][number]) => `${e.from}.${e.from_port}>${e.to}.${e.to_port}`;
  const seen = new Set(b.edges.map(ek));
  return { nodes, edges: [...b.edges, ...a.edges.filter((e) => !seen.has(ek(e)))] };
}

export function Compare({ a, b }: { a: string; b: string }) {
  const [cmp, setCmp] = useState<Comparison | null>(null);
  const [graph, setGraph] = useState<Graph>({ nodes: [], edges: [] });
  const [error, setError] = useState<string | null>(null);
  const [onlyDiff, setOnlyDiff] = useState(true);
  const [selected, setSelected] = useState<string | null>(null);

  useEffect(() => {
    get<Comparison>(`api/compare?a=${enc(a)}&b=${enc(b)}`).then(setCmp, (e) => setError(errorText(e)));
    Promise.all([get<Job>(`api/jobs/${enc(a)}`), get<Job>(`api/jobs/${enc(b)}`)]).then(
      ([ja, jb]) => setGraph(union(jobGraph(ja), jobGraph(jb))),
      (e) => setError(errorText(e)),
    );
  }, [a, b]);

  const cls = useMemo(() => {
    const m = new Map<string, string>();
    if (!cmp) return m;
    for (const s of cmp.steps.only_a) m.set(s, "only-a");
    for (const s of cmp.steps.only_b) m.set(s, "only-b");
    for (const s of cmp.steps.changed) m.set(s, "changed");
    for (const s of cmp.steps.same) m.set(s, "same");
    return m;
  }, [cmp]);
  const stateOf = useCallback((n: GraphNode) => cls.get(n.name) ?? "same", [cls]);
  const hoverText = useCallback(
    (n: GraphNode) => (cmp?.properties ?? []).filter((p) => p.step === n.name && !p.same).map((p) => `${p.what} ${p.name}: ${txt(p.a)} -> ${txt(p.b)}`),
    [cmp],
  );
  // every group unfolded: each drawn as a frame around its members
  const groups = useMemo(() => new Set(graph.nodes.filter((n) => n.kind !== "step").map((n) => n.name)), [graph]);
  const visible = useMemo(() => visibleGraph(graph, groups), [graph, groups]);

  if (error) return <div className="error page-error">{error}</div>;
  const props = (cmp?.properties ?? []).filter((p) => (!onlyDiff || !p.same) && (!selected || p.step === selected || p.step === null));
  return (
    <div className="compare-page" data-testid="compare-page">
      <div className="toolbar">
        <b>
          job <a href={`#/jobs/${enc(a)}`}>{a}</a> (A) vs job <a href={`#/jobs/${enc(b)}`}>{b}</a> (B)
        </b>
        <span className="chip state-only-a">only in A {cmp?.steps.only_a.length ?? 0}</span>
        <span className="chip state-only-b">only in B {cmp?.steps.only_b.length ?? 0}</span>
        <span className="chip state-changed">changed {cmp?.steps.changed.length ?? 0}</span>
        <span className="chip state-same">same {cmp?.steps.same.length ?? 0}</span>
        <span className="grow" />
        <label>
          <input type="checkbox" checked={onlyDiff} onChange={(e) => setOnlyDiff(e.target.checked)} data-testid="only-differences" /> only differences
        </label>
      </div>
      <div className="workspace">
        <Canvas graph={visible} expanded={groups} direction="RIGHT" stateOf={stateOf} hoverText={hoverText} selected={selected} onSelect={setSelected} />
        <aside className="properties wide" data-testid="compare-properties">
          {selected && (
            <div className="muted small">
              task {selected} and the jobs' own properties{" "}
              <button className="link" onClick={() => setSelected(null)}>
                show all
              </button>
            </div>
          )}
          {/* fixed columns: long digests are cut with an ellipsis (the whole value on hover), never widening the pane */}
          <table className="kv compare-props">
            <colgroup>
              <col style={{ width: "19%" }} />
              <col style={{ width: "17%" }} />
              <col style={{ width: "18%" }} />
              <col />
              <col />
            </colgroup>
            <thead>
              <tr>
                <th>what</th>
                <th>task</th>
                <th>name</th>
                <th>A</th>
                <th>B</th>
              </tr>
            </thead>
            <tbody>
              {props.map((p, i) => (
                <tr key={i} className={p.same ? "same" : "differs"} data-prop={`${p.what}:${p.step ?? ""}:${p.name}`}>
                  <td title={p.what}>{p.what}</td>
                  <td title={p.step ?? ""}>{p.step ?? ""}</td>
                  <td title={p.name}>{p.name}</td>
                  <td>
                    <code title={txt(p.a)}>{txt(p.a)}</code>
                  </td>
                  <td>
                    <code title={txt(p.b)}>{txt(p.b)}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {cmp && !props.length && <div className="muted">no {onlyDiff ? "differences" : "properties"}</div>}
        </aside>
      </div>
    </div>
  );
}
