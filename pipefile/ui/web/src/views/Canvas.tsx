// The graph canvas shared by the pipeline, job and compare pages: React Flow drawing, ELK layout
// in a worker, state colours, hover reasons, keyboard navigation, and (when editable) connecting
// ports with the refusal shown while dragging and library items dropped in.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import {
  Background,
  Controls,
  MarkerType,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  useReactFlow,
  type Connection,
  type Edge,
} from "@xyflow/react";
import { layout } from "../lib/layout";
import type { Placed } from "../lib/elkGraph";
import { framesOf, type VisibleGraph } from "../lib/graphModel";
import type { GraphNode } from "../lib/types";
import { GroupFrame, type FrameNodeType } from "./GroupFrame";
import { NODE_WIDTH, StepNode, nodeHeight, type StepNodeType } from "./StepNode";
import { TaggedEdge } from "./TaggedEdge";

const nodeTypes = { step: StepNode, frame: GroupFrame };
// a frame's least size (ELK grows it around its members)
const FRAME_MIN_HEIGHT = 60;
// the minimap draws in SVG from these, not from CSS classes
const MINI: Record<string, string> = {
  fresh: "#2e9d5b", ran: "#2e9d5b", same: "#2e9d5b", run: "#e08a1e", running: "#e08a1e", changed: "#e08a1e",
  restore: "#3b7ddd", restored: "#3b7ddd", failed: "#d64545", "only-a": "#d64545", "only-b": "#7a4fd6",
};
const edgeTypes = { tagged: TaggedEdge };

export interface CanvasProps {
  graph: VisibleGraph;
  direction: "RIGHT" | "DOWN";
  stateOf: (n: GraphNode) => string;
  hoverText?: (n: GraphNode) => string[];
  edgeClass?: (from: string, to: string) => string;
  errorsOf?: (name: string) => string[];
  pending?: ReadonlySet<string>;
  expanded?: ReadonlySet<string>;
  onToggleGroup?: (name: string) => void;
  selected: string | null;
  /** `key`: moved there with the arrows (the properties stay as they are until Enter) */
  onSelect: (name: string | null, how?: "click" | "key") => void;
  onOpen?: (name: string) => void;
  editable?: boolean;
  refusal?: (from: string, fromPort: string, to: string, toPort: string) => string | null;
  onConnect?: (from: string, fromPort: string, to: string, toPort: string) => void;
  onDropItem?: (payload: string) => void;
  empty?: string;
}

function structureKey(g: VisibleGraph, direction: string, frames: Map<string, string>): string {
  // a layout depends on names, port counts, frames and edges only: values typed into fields do not move nodes
  return (
    direction +
    "|" +
    g.nodes.map((n) => `${n.name}:${(n.inputs ?? []).length}:${(n.outputs ?? []).length}^${frames.get(n.name) ?? ""}`).join(",") +
    "|" +
    g.edges.map((e) => `${e.from}>${e.to}`).join(",")
  );
}

function CanvasInner(p: CanvasProps) {
  const flow = useReactFlow();
  const [positions, setPositions] = useState<Record<string, Placed>>({});
  const [laidOut, setLaidOut] = useState("");
  const [layoutMs, setLayoutMs] = useState(0);
  const [hover, setHover] = useState<{ name: string; x: number; y: number } | null>(null);
  const [reason, setReason] = useState<{ text: string; refused: boolean } | null>(null);
  const lastReason = useRef<string | null>(null);
  // unfolded groups are frames around their members: member -> its frame
  const frames = useMemo(() => framesOf(p.graph, p.expanded ?? new Set()), [p.graph, p.expanded]);
  const frameNames = useMemo(() => new Set(frames.values()), [frames]);
  const key = useMemo(() => structureKey(p.graph, p.direction, frames), [p.graph, p.direction, frames]);

  useEffect(() => {
    let live = true;
    layout({
      direction: p.direction,
      nodes: p.graph.nodes.map((n) => ({
        id: n.name,
        width: NODE_WIDTH,
        height: frameNames.has(n.name) ? FRAME_MIN_HEIGHT : nodeHeight(n),
        parent: frames.get(n.name) ?? null,
      })),
      edges: p.graph.edges.map((e, i) => ({ id: `e${i}`, source: e.from, target: e.to })),
    }).then((a) => {
      if (!live) return;
      // a frame's members are placed relative to it: positions of another layout do not mix
      setPositions(a.positions);
      setLayoutMs(Math.round(a.ms ?? 0));
      setLaidOut(key);
    });
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);

  // Whether the view is still the fitted one (no pan or zoom by the user since the layout's fit):
  // a canvas that changes size (the properties or params pane opened beside it, the window
  // resized) is fitted again to what is visible, not left with its right part cut off.
  const fitted = useRef(false);
  const box = useRef<HTMLDivElement>(null);
  const selectedNow = useRef(p.selected);
  selectedNow.current = p.selected;
  const fit = useCallback(() => {
    fitted.current = true;
    flow.fitView({ padding: 0.1, maxZoom: 1.2, duration: 0 });
  }, [flow]);

  useEffect(() => {
    if (laidOut) requestAnimationFrame(fit);
  }, [laidOut, fit]);

  // the selected step whole in the canvas's visible part: panned to (its zoom kept) when not
  const reveal = useCallback(
    (name: string) => {
      const n = flow.getInternalNode(name);
      const el = box.current;
      if (!n || !el || !el.clientWidth) return;
      const { x, y, zoom } = flow.getViewport();
      const at = n.internals.positionAbsolute;
      const w = n.measured.width ?? NODE_WIDTH;
      const h = n.measured.height ?? 80;
      const left = -x / zoom;
      const top = -y / zoom;
      if (at.x >= left && at.y >= top && at.x + w <= left + el.clientWidth / zoom && at.y + h <= top + el.clientHeight / zoom) return;
      fitted.current = false;
      flow.setCenter(at.x + w / 2, at.y + h / 2, { zoom, duration: 0 });
    },
    [flow],
  );

  useEffect(() => {
    const el = box.current;
    if (!el || typeof ResizeObserver === "undefined") return;
    let size = `${el.clientWidth}x${el.clientHeight}`;
    const seen = new ResizeObserver(() => {
      const now = `${el.clientWidth}x${el.clientHeight}`;
      if (now === size) return;
      size = now;
      // (on the next frame: React Flow takes the new size from its own observer first)
      requestAnimationFrame(() => {
        if (fitted.current) fit();
        if (selectedNow.current) reveal(selectedNow.current);
      });
    });
    seen.observe(el);
    return () => seen.disconnect();
  }, [fit, reveal]);

  useEffect(() => {
    // a step selected in the outline (or clicked at the edge) is brought into view; a fitted
    // view shows every step, and is fitted again if the pane this opens narrows the canvas
    if (p.selected && !fitted.current) requestAnimationFrame(() => p.selected && reveal(p.selected));
  }, [p.selected, reveal]);

  // a member is drawn inside its frame once a layout has placed both (before: the grid, flat)
  const parentOf = useCallback(
    (name: string) => {
      const f = frames.get(name);
      return f && positions[name] && positions[f]?.width ? f : undefined;
    },
    [frames, positions],
  );
  // where a node is on the canvas (a member's position is relative to its frame)
  const absolute = useCallback(
    (name: string): { x: number; y: number } => {
      const at = positions[name] ?? { x: 0, y: 0 };
      const f = parentOf(name);
      if (!f) return at;
      const o = absolute(f);
      return { x: o.x + at.x, y: o.y + at.y };
    },
    [positions, parentOf],
  );

  const nodes: (StepNodeType | FrameNodeType)[] = useMemo(() => {
    // before the worker answers: a grid, so the steps are on screen at once
    const cols = Math.max(1, Math.ceil(Math.sqrt(p.graph.nodes.length)));
    const depth = (name: string) => {
      let d = 0;
      for (let f = parentOf(name); f && d < 50; f = parentOf(f)) d++;
      return d;
    };
    const out = p.graph.nodes.map((n, i) => {
      const at = positions[n.name];
      const frame = frameNames.has(n.name) && at?.width ? { width: at.width, height: at.height ?? FRAME_MIN_HEIGHT } : null;
      const parentId = parentOf(n.name);
      return {
        id: n.name,
        type: frame ? ("frame" as const) : ("step" as const),
        position: at ? { x: at.x, y: at.y } : { x: (i % cols) * (NODE_WIDTH + 40), y: Math.floor(i / cols) * 120 },
        ...(parentId ? { parentId } : {}),
        selected: p.selected === n.name,
        draggable: false,
        // known sizes: the minimap draws only nodes whose size is on the node itself
        width: frame?.width ?? NODE_WIDTH,
        height: frame?.height ?? nodeHeight(n),
        data: {
          ...(frame ?? {}),
          node: n,
          state: p.stateOf(n),
          direction: p.direction,
          errors: p.errorsOf?.(n.name) ?? [],
          expanded: p.expanded?.has(n.name) ?? false,
          pending: p.pending?.has(n.name) ?? false,
          onToggle: p.onToggleGroup,
        },
      };
    });
    // React Flow needs a frame before its members
    const d = new Map(out.map((n) => [n.id, depth(n.id)]));
    return out.sort((a, b) => d.get(a.id)! - d.get(b.id)!) as (StepNodeType | FrameNodeType)[];
  }, [p.graph, positions, p.selected, p.stateOf, p.direction, p.errorsOf, p.expanded, p.pending, p.onToggleGroup, frameNames, parentOf]);

  const edges: Edge[] = useMemo(
    () =>
      p.graph.edges.map((e) => ({
        id: `${e.from}.${e.from_port}->${e.to}.${e.to_port}`,
        source: e.from,
        target: e.to,
        sourceHandle: e.from_port || "__any",
        targetHandle: e.to_port || "__any",
        type: "tagged",
        markerEnd: { type: MarkerType.ArrowClosed },
        data: { cls: p.edgeClass?.(e.from, e.to) ?? "", ports: `${e.from_port ?? ""}->${e.to_port ?? ""}` },
      })),
    [p.graph, p.edgeClass],
  );

  const check = useCallback(
    (c: Connection | Edge) => {
      if (!p.refusal || !c.sourceHandle || !c.targetHandle) return false;
      const why = p.refusal(c.source, c.sourceHandle, c.target, c.targetHandle);
      lastReason.current = why;
      setReason(why ? { text: why, refused: false } : { text: `connect ${c.source}.${c.sourceHandle} -> ${c.target}.${c.targetHandle}`, refused: false });
      return why === null;
    },
    [p.refusal],
  );

  const byName = useMemo(() => new Map(p.graph.nodes.map((n) => [n.name, n])), [p.graph]);

  // arrows follow edges (along the layout's direction) or step between siblings; Enter opens
  const onKey = (ev: React.KeyboardEvent) => {
    if ((ev.target as HTMLElement).closest("input,textarea,select")) return;
    const cur = p.selected;
    if (ev.key === "Escape") return p.onSelect(null);
    if (!cur) {
      if (ev.key.startsWith("Arrow") && p.graph.nodes.length) p.onSelect(p.graph.nodes[0].name, "key");
      return;
    }
    if (ev.key === "Enter") {
      ev.preventDefault();
      p.onOpen?.(cur);
      return;
    }
    const lr = p.direction === "RIGHT";
    const fwd = lr ? "ArrowRight" : "ArrowDown";
    const back = lr ? "ArrowLeft" : "ArrowUp";
    const nextSib = lr ? "ArrowDown" : "ArrowRight";
    const prevSib = lr ? "ArrowUp" : "ArrowLeft";
    const pos = absolute;
    const across = (n: string) => (lr ? pos(n).y : pos(n).x);
    let target: string | undefined;
    if (ev.key === fwd || ev.key === back) {
      const cands = p.graph.edges
        .filter((e) => (ev.key === fwd ? e.from === cur : e.to === cur))
        .map((e) => (ev.key === fwd ? e.to : e.from));
      target = cands.sort((a, b) => Math.abs(across(a) - across(cur)) - Math.abs(across(b) - across(cur)))[0];
    } else if (ev.key === nextSib || ev.key === prevSib) {
      const layer = lr ? pos(cur).x : pos(cur).y;
      const same = p.graph.nodes
        .map((n) => n.name)
        .filter((n) => Math.abs((lr ? pos(n).x : pos(n).y) - layer) < 1)
        .sort((a, b) => across(a) - across(b));
      const i = same.indexOf(cur);
      target = same[ev.key === nextSib ? i + 1 : i - 1];
    } else return;
    ev.preventDefault();
    if (target) {
      p.onSelect(target, "key");
      const at = pos(target);
      fitted.current = false;
      flow.setCenter(at.x + NODE_WIDTH / 2, at.y + 40, { zoom: flow.getZoom(), duration: 0 });
    }
  };

  const hovered = hover ? byName.get(hover.name) : undefined;
  const hoverLines = hovered ? p.hoverText?.(hovered) ?? hovered.reasons ?? [] : [];

  return (
    <div
      ref={box}
      className="canvas"
      tabIndex={0}
      data-testid="canvas"
      data-laid-out={laidOut === key ? "1" : "0"}
      data-layout-ms={layoutMs}
      onKeyDown={onKey}
      onDragOver={(e) => {
        if (p.editable && p.onDropItem) {
          e.preventDefault();
          e.dataTransfer.dropEffect = "copy";
        }
      }}
      onDrop={(e) => {
        const payload = e.dataTransfer.getData("application/x-pipe-item") || e.dataTransfer.getData("text/plain");
        if (p.editable && p.onDropItem && payload) {
          e.preventDefault();
          p.onDropItem(payload);
        }
      }}
    >
      {!p.graph.nodes.length && <div className="canvas-empty">{p.empty ?? "no steps"}</div>}
      <ReactFlow
        nodes={nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        edgeTypes={edgeTypes}
        minZoom={0.05}
        maxZoom={2}
        nodesDraggable={false}
        nodesConnectable={!!p.editable}
        elementsSelectable
        onlyRenderVisibleElements={p.graph.nodes.length > 300}
        isValidConnection={check}
        onConnectStart={() => setReason(null)}
        onConnect={(c) => {
          setReason(null);
          if (c.sourceHandle && c.targetHandle) p.onConnect?.(c.source, c.sourceHandle, c.target, c.targetHandle);
        }}
        onConnectEnd={(_e, st) => {
          // a drop on a port that was refused: keep saying why
          if (!st.isValid && st.toHandle && lastReason.current) setReason({ text: lastReason.current, refused: true });
          else setReason(null);
          lastReason.current = null;
        }}
        onNodeClick={(_e, n) => p.onSelect(n.id)}
        onNodeDoubleClick={(_e, n) => p.onOpen?.(n.id)}
        onPaneClick={() => p.onSelect(null)}
        onMove={(e) => {
          // a pan or zoom of the user's (a programmatic move has no event; a click that moves
          // nothing calls no onMove, where it does start one)
          if (e) fitted.current = false;
        }}
        onNodeMouseEnter={(e, n) => setHover({ name: n.id, x: e.clientX, y: e.clientY })}
        onNodeMouseLeave={() => setHover(null)}
        proOptions={{ hideAttribution: true }}
      >
        <Background gap={24} />
        <MiniMap pannable zoomable nodeColor={(n) => MINI[(n.data as { state?: string }).state ?? ""] ?? "#9aa3af"} />
        <Controls showInteractive={false} />
      </ReactFlow>
      {reason && (
        <div className={`connect-reason${reason.refused ? " refused" : ""}`} data-testid="connect-reason">
          {reason.text}
        </div>
      )}
      {hover && hovered && (
        <div className="tooltip" data-testid="reasons" style={{ left: hover.x + 12, top: hover.y + 12 }}>
          <b>{hovered.name}</b> <span className="muted">{p.stateOf(hovered)}</span>
          {hovered.description && <div className="muted">{hovered.description}</div>}
          <ul>
            {hoverLines.map((r, i) => (
              <li key={i}>{r}</li>
            ))}
          </ul>
          {(p.errorsOf?.(hovered.name) ?? []).map((r, i) => (
            <div key={`e${i}`} className="error">
              {r}
            </div>
          ))}
        </div>
      )}
    </div>
  );
}

export function Canvas(p: CanvasProps) {
  return (
    <ReactFlowProvider>
      <CanvasInner {...p} />
    </ReactFlowProvider>
  );
}
