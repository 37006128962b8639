// An unfolded group (a matrix, sweep or foreach step's tasks, a nested pipeline's steps): a
// labelled box drawn around its members, with the fold control on it. Its size is ELK's (the
// members are laid out inside it); its own ports stay on its sides (a gathered output's edge).
import { memo } from "react";
import type { NodeProps, Node } from "@xyflow/react";
import { counts } from "../lib/words";
import { Ports } from "./Ports";
import type { StepData } from "./StepNode";

export type FrameNodeType = Node<StepData & { width: number; height: number }, "frame">;

function GroupFrameView({ data }: NodeProps<FrameNodeType>) {
  const { node: n, state, direction, errors } = data;
  const lr = direction === "RIGHT";
  return (
    <div
      className={`frame state-${state}${errors.length ? " has-errors" : ""}`}
      data-step={n.name}
      data-state={state}
      data-kind={n.kind}
      data-frame="1"
      style={{ width: data.width, height: data.height }}
    >
      <div className="frame-title">
        <span className="step-name" title={n.name}>
          {n.name}
        </span>
        {data.onToggle ? (
          <button
            className="expand nodrag"
            data-testid={`expand-${n.name}`}
            title="fold"
            onClick={(e) => {
              e.stopPropagation();
              data.onToggle?.(n.name);
            }}
          >
            ▾ {counts(n)}
          </button>
        ) : (
          // a job's or a comparison's graph: every group stays unfolded
          <span className="muted small">{counts(n)}</span>
        )}
        {errors.length > 0 && (
          <span className="step-err" data-testid={`errors-${n.name}`} title={errors.join("\n")}>
            ⚠ {errors.length}
          </span>
        )}
      </div>
      {/* a frame is tall: its ports sit by its title, not spread along a side */}
      <Ports node={n} lr={lr} first={12} labels={false} connectable={false} />
    </div>
  );
}

export const GroupFrame = memo(GroupFrameView);
