// A node's ports as React Flow handles, shared by a step and an unfolded group's frame: the
// inputs on the left (top when laid out downwards), the outputs opposite, and a hidden port
// each side for edges that name none (a collapsed group's).
import { Handle, Position } from "@xyflow/react";
import type { GraphNode, InPort, OutPort } from "../lib/types";

export const PORT_GAP = 18;

export interface PortsProps {
  node: GraphNode;
  lr: boolean;
  /** where the first port sits along a side (left to right only: down, they spread evenly) */
  first: number;
  /** the port names beside the handles (a step's; a frame's title is there instead) */
  labels: boolean;
  /** whether an edge can be drawn from or to them (a frame's are drawn by its members) */
  connectable: boolean;
}

export function Ports({ node, lr, first, labels, connectable }: PortsProps) {
  const place = (i: number, count: number) => (lr ? { top: first + PORT_GAP * i } : { left: `${((i + 1) / (count + 1)) * 100}%` });
  // inputs are targets on the left (top), outputs sources on the right (bottom)
  const side = (kind: "in" | "out", ports: (InPort | OutPort)[]) =>
    ports.map((p, i) => (
      <Handle
        key={`${kind}-${p.name}`}
        type={kind === "in" ? "target" : "source"}
        id={p.name}
        position={kind === "in" ? (lr ? Position.Left : Position.Top) : lr ? Position.Right : Position.Bottom}
        style={place(i, ports.length)}
        data-port={`${kind}:${p.name}`}
        title={`${p.name}: ${p.type ?? "any"}${"optional" in p && p.optional ? " (optional)" : ""}`}
        isConnectable={connectable}
      >
        {lr && labels && <span className={`port-label ${kind}`}>{p.name}</span>}
      </Handle>
    ));
  return (
    <>
      <Handle type="target" position={lr ? Position.Left : Position.Top} id="__any" className="port-any" isConnectable={false} />
      <Handle type="source" position={lr ? Position.Right : Position.Bottom} id="__any" className="port-any" isConnectable={false} />
      {side("in", node.inputs ?? [])}
      {side("out", node.outputs ?? [])}
    </>
  );
}
