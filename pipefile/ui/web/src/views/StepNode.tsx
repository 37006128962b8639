// One step on the canvas: its name, component, state colour, ports as handles, a group's counts.
import { memo } from "react";
import { Handle, Position, type NodeProps, type Node } from "@xyflow/react";
import type { GraphNode } from "../lib/types";
import { counts } from "../lib/words";

export interface StepData extends Record<string, unknown> {
  node: GraphNode;
  state: string;
  direction: "RIGHT" | "DOWN";
  errors: string[];
  expanded: boolean;
  pending: boolean;
  onToggle?: (name: string) => void;
}
export type StepNodeType = Node<StepData, "step">;

export const NODE_WIDTH = 200;
export const PORT_GAP = 18;

export function nodeHeight(n: GraphNode): number {
  return 44 + PORT_GAP * Math.max((n.inputs ?? []).length, (n.outputs ?? []).length, 1);
}

function outerOf(n: GraphNode): string {
  return n.label && n.label !== n.name && n.name.endsWith(`/${n.label}`) ? n.name.slice(0, n.name.length - n.label.length) : "";
}

function StepNodeView({ data }: NodeProps<StepNodeType>) {
  const { node: n, state, direction, errors } = data;
  const lr = direction === "RIGHT";
  const ins = n.inputs ?? [];
  const outs = n.outputs ?? [];
  const grouped = n.kind !== "step";
  const place = (i: number, count: number) =>
    lr ? { top: 40 + PORT_GAP * i + PORT_GAP / 2 } : { left: `${((i + 1) / (count + 1)) * 100}%` };
  return (
    <div
      className={`step state-${state}${errors.length ? " has-errors" : ""}${data.pending ? " is-draft" : ""}${grouped ? " is-group" : ""}`}
      data-step={n.name}
      data-state={state}
      data-kind={n.kind}
      style={{ width: NODE_WIDTH, height: nodeHeight(n) }}
    >
      <div className="step-title">
        <span className="step-name" title={n.name}>
          {/* an inner step of a nested pipeline: its pipeline's path, so two pipelines' `clean` steps tell apart */}
          {outerOf(n) && <span className="step-outer">{outerOf(n)}</span>}
          {n.label || n.name}
        </span>
        {errors.length > 0 && (
          <span className="step-err" data-testid={`errors-${n.name}`} title={errors.join("\n")}>
            ⚠ {errors.length}
          </span>
        )}
      </div>
      <div className="step-sub">
        {grouped ? (
          <button
            className="expand nodrag"
            data-testid={`expand-${n.name}`}
            onClick={(e) => {
              e.stopPropagation();
              data.onToggle?.(n.name);
            }}
          >
            {data.expanded ? "▾" : "▸"} {counts(n)}
          </button>
        ) : (
          <span>{n.component ?? state}</span>
        )}
      </div>
      {/* the ports drawn at the sides; a hidden one takes edges that do not name a port (a collapsed group's) */}
      <Handle type="target" position={lr ? Position.Left : Position.Top} id="__any" className="port-any" isConnectable={false} />
      <Handle type="source" position={lr ? Position.Right : Position.Bottom} id="__any" className="port-any" isConnectable={false} />
      {ins.map((p, i) => (
        <Handle
          key={`i-${p.name}`}
          type="target"
          id={p.name}
          position={lr ? Position.Left : Position.Top}
          style={place(i, ins.length)}
          data-port={`in:${p.name}`}
          title={`${p.name}: ${p.type ?? "any"}${p.optional ? " (optional)" : ""}`}
        >
          {lr && <span className="port-label in">{p.name}</span>}
        </Handle>
      ))}
      {outs.map((p, i) => (
        <Handle
          key={`o-${p.name}`}
          type="source"
          id={p.name}
          position={lr ? Position.Right : Position.Bottom}
          style={place(i, outs.length)}
          data-port={`out:${p.name}`}
          title={`${p.name}: ${p.type ?? "any"}`}
        >
          {lr && <span className="port-label out">{p.name}</span>}
        </Handle>
      ))}
    </div>
  );
}

export const StepNode = memo(StepNodeView);
