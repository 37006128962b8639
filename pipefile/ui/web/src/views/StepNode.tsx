// One step on the canvas: its name, component, state colour, ports as handles, a group's counts.
import { memo } from "react";
import type { NodeProps, Node } from "@xyflow/react";
import type { GraphNode } from "../lib/types";
import { counts } from "../lib/words";
import { PORT_GAP, Ports } from "./Ports";

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

export function nodeHeight(n: GraphNode): number {
  return 44 + PORT_GAP * Math.max((n.inputs ?? []).length, (n.outputs ?? []).length, 1);
}

function outerOf(n: GraphNode): string {
  return n.label && n.label !== n.name && n.name.endsWith(`/${n.label}`) ? n.name.slice(0, n.name.length - n.label.length) : "";
}

function StepNodeView({ data }: NodeProps<StepNodeType>) {
  const { node: n, state, direction, errors } = data;
  const lr = direction === "RIGHT";
  const grouped = n.kind !== "step";
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
      {/* the ports drawn at the sides, below the title */}
      <Ports node={n} lr={lr} first={40 + PORT_GAP / 2} labels connectable />
    </div>
  );
}

export const StepNode = memo(StepNodeView);
