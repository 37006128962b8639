// An edge with its test hooks: data-edge="FROM->TO" on the SVG group, data-ports="OUT->IN".
import { BaseEdge, getBezierPath, type EdgeProps } from "@xyflow/react";

export function TaggedEdge(p: EdgeProps) {
  const [path] = getBezierPath(p);
  return (
    <g data-edge={`${p.source}->${p.target}`} data-ports={(p.data?.ports as string) ?? ""} className={(p.data?.cls as string) ?? ""}>
      <BaseEdge id={p.id} path={path} markerEnd={p.markerEnd} style={p.style} />
    </g>
  );
}
