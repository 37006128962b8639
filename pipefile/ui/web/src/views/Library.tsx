// The asset library: std and Pipefile components, assets, artifacts; search, source filter, hover
// cards with ports; drag an item onto the canvas (or press its + button) to add it to the draft.
import { useState } from "react";
import type { LibraryItem } from "../lib/types";
import { shortName } from "../lib/draft";

const SOURCES = ["all", "std", "pipefile", "asset", "artifact"] as const;

function ports(title: string, ps: LibraryItem["inputs"]) {
  if (!ps || !ps.length) return null;
  return (
    <div>
      <div className="muted small">{title}</div>
      <ul className="ports">
        {ps.map((x) => (
          <li key={x.name}>
            <code>{x.name}</code> <span className="muted">{x.type ?? "any"}</span>
            {x.optional ? <span className="muted"> optional</span> : null}
            {x.description ? <div className="muted small">{x.description}</div> : null}
          </li>
        ))}
      </ul>
    </div>
  );
}

export function Library(p: { items: LibraryItem[]; error: string | null; disabled: boolean; onAdd: (item: LibraryItem) => void }) {
  const [q, setQ] = useState("");
  const [source, setSource] = useState<(typeof SOURCES)[number]>("all");
  const [hover, setHover] = useState<{ item: LibraryItem; top: number } | null>(null);
  const needle = q.trim().toLowerCase();
  const shown = p.items.filter(
    (i) =>
      (source === "all" || i.source === source) &&
      (!needle || i.name.toLowerCase().includes(needle) || (i.description ?? "").toLowerCase().includes(needle)),
  );
  return (
    <div className="library" data-testid="library">
      <input className="search" placeholder="search the library" value={q} onChange={(e) => setQ(e.target.value)} data-testid="library-search" />
      <select value={source} onChange={(e) => setSource(e.target.value as never)} data-testid="library-source">
        {SOURCES.map((s) => (
          <option key={s} value={s}>
            {s}
          </option>
        ))}
      </select>
      {p.error && <div className="error">{p.error}</div>}
      <div className="rows lib-rows">
        {shown.map((i) => (
          <div
            key={`${i.source}:${i.name}`}
            className="lib-item"
            draggable={!p.disabled}
            data-item={`${i.source}:${i.name}`}
            onDragStart={(e) => {
              e.dataTransfer.setData("application/x-pipe-item", JSON.stringify({ source: i.source, name: i.name }));
              e.dataTransfer.effectAllowed = "copy";
            }}
            onMouseEnter={(e) => setHover({ item: i, top: e.currentTarget.getBoundingClientRect().top })}
            onMouseLeave={() => setHover(null)}
          >
            <span className={`src src-${i.source}`}>{i.source}</span>
            <span className="name" title={i.name}>
              {i.source === "std" ? shortName(i) : i.name}
            </span>
            {i.version && <span className="muted small">{i.version}</span>}
            <button
              className="add"
              disabled={p.disabled}
              data-testid={`add-${i.name}`}
              title={i.source === "asset" || i.source === "artifact" ? "bind to the selected input" : "add a step"}
              onClick={() => p.onAdd(i)}
            >
              +
            </button>
          </div>
        ))}
      </div>
      {hover && (
        <div className="hovercard" data-testid="hovercard" style={{ top: hover.top }}>
          <b>{hover.item.name}</b> <span className="muted">{hover.item.source}</span>
          {hover.item.description && <p>{hover.item.description}</p>}
          {ports("inputs", hover.item.inputs)}
          {ports("params", hover.item.params)}
          {ports("outputs", hover.item.outputs)}
          {hover.item.versions && hover.item.versions.length > 0 && (
            <div className="muted small">versions: {hover.item.versions.map((v) => (typeof v === "object" ? JSON.stringify(v) : String(v))).join(", ")}</div>
          )}
        </div>
      )}
    </div>
  );
}
