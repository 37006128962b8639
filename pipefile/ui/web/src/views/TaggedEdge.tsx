// An edge with its test hook: data-edge="FROM->TO" on the SVG group.
import { BaseEdge, getBezierPath, type EdgeProps } from "@xyflow/react";

export function TaggedEdge(p: EdgeProps) {
  const [path] = getBezierPath(p);
  return (
    <g data-edge={`${p.source}->${p.target}`} className={(p.data?.cls as string) ?? ""}>
      <BaseEdge id={p.id} path={path} markerEnd={p.markerEnd} style={p.style} />
    </g>
  );
}
