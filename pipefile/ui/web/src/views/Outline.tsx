// The list beside the graph: search, state filters, groups folded; virtual rows so 10,000 steps scroll.
import { useMemo, useState } from "react";
import type { GraphNode } from "../lib/types";

const ROW = 26;
const STATES = ["fresh", "run", "restore", "pending", "unknown"];

export function Outline(p: {
  nodes: GraphNode[];
  stateOf: (n: GraphNode) => string;
  selected: string | null;
  onSelect: (name: string) => void;
  expanded: ReadonlySet<string>;
  onToggleGroup: (name: string) => void;
  errorsOf: (name: string) => string[];
}) {
  const [q, setQ] = useState("");
  const [off, setOff] = useState<Set<string>>(new Set());
  const [scroll, setScroll] = useState(0);
  const [height, setHeight] = useState(600);

  const rows = useMemo(() => {
    const needle = q.trim().toLowerCase();
    const byName = new Map(p.nodes.map((n) => [n.name, n]));
    const hiddenByGroup = (n: GraphNode) => {
      // inside a folded group: listed only while searching
      for (let g = n.group, i = 0; g && i < 50; g = byName.get(g)?.group, i++) if (!p.expanded.has(g)) return true;
      return false;
    };
    return p.nodes.filter((n) => {
      if (off.has(p.stateOf(n))) return false;
      if (needle)
        return (
          n.name.toLowerCase().includes(needle) ||
          (n.component ?? "").toLowerCase().includes(needle) ||
          (n.description ?? "").toLowerCase().includes(needle)
        );
      return !hiddenByGroup(n);
    });
  }, [p.nodes, q, off, p.expanded, p.stateOf]);

  const first = Math.max(0, Math.floor(scroll / ROW) - 5);
  const last = Math.min(rows.length, first + Math.ceil(height / ROW) + 10);
  const depth = (n: GraphNode) => {
    let d = 0;
    for (let g = n.group; g && d < 10; d++) g = p.nodes.find((x) => x.name === g)?.group ?? null;
    return d;
  };

  return (
    <div className="outline" data-testid="outline">
      <input
        className="search"
        placeholder="search steps"
        value={q}
        onChange={(e) => setQ(e.target.value)}
        data-testid="outline-search"
      />
      <div className="filters">
        {STATES.map((s) => (
          <label key={s} className={`chip state-${s}`}>
            <input
              type="checkbox"
              checked={!off.has(s)}
              data-testid={`filter-${s}`}
              onChange={() => {
                const n = new Set(off);
                if (n.has(s)) n.delete(s);
                else n.add(s);
                setOff(n);
              }}
            />
            {s}
          </label>
        ))}
      </div>
      <div className="muted small">
        {rows.length} of {p.nodes.length}
      </div>
      <div
        className="rows"
        onScroll={(e) => setScroll(e.currentTarget.scrollTop)}
        ref={(el) => {
          if (el && el.clientHeight && el.clientHeight !== height) setHeight(el.clientHeight);
        }}
      >
        <div style={{ height: rows.length * ROW, position: "relative" }}>
          {rows.slice(first, last).map((n, i) => {
            const errs = p.errorsOf(n.name);
            return (
              <div
                key={n.name}
                className={`row${p.selected === n.name ? " selected" : ""}`}
                style={{ top: (first + i) * ROW, paddingLeft: 6 + depth(n) * 14 }}
                data-row={n.name}
                onClick={() => p.onSelect(n.name)}
              >
                {n.kind !== "step" ? (
                  <button className="link" onClick={(e) => (e.stopPropagation(), p.onToggleGroup(n.name))}>
                    {p.expanded.has(n.name) ? "▾" : "▸"}
                  </button>
                ) : (
                  <span className="spacer" />
                )}
                <span className={`dot state-${p.stateOf(n)}`} />
                <span className="name">{n.name}</span>
                {n.kind !== "step" && <span className="muted small">({n.tasks?.count ?? n.children?.length ?? 0})</span>}
                {errs.length > 0 && <span className="error small">⚠</span>}
              </div>
            );
          })}
        </div>
      </div>
    </div>
  );
}
