// A node's ports as React Flow handles, shared by a step and an unfolded group's frame: the
// inputs on the left (top when laid out downwards), the outputs opposite, and a hidden port
// each side for edges that name none (a collapsed group's).
import { Handle, Position } from "@xyflow/react";
import type { GraphNode } from "../lib/types";

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
  const ins = node.inputs ?? [];
  const outs = node.outputs ?? [];
  const place = (i: number, count: number) => (lr ? { top: first + PORT_GAP * i } : { left: `${((i + 1) / (count + 1)) * 100}%` });
  return (
    <>
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
          isConnectable={connectable}
        >
          {lr && labels && <span className="port-label in">{p.name}</span>}
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
          isConnectable={connectable}
        >
          {lr && labels && <span className="port-label out">{p.name}</span>}
        </Handle>
      ))}
    </>
  );
}
