// The words of docs/concepts.md as the views show them: a group node holds the tasks its
// matrix, sweep or foreach step expands into; a pipeline node holds its inner steps.
import type { GraphNode } from "./types";

/** `1 task`, `2 tasks`. */
export function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

/** What a group or pipeline node's members are called. */
export function memberWord(kind: GraphNode["kind"]): "task" | "step" {
  return kind === "pipeline" ? "step" : "task";
}

/** A group's or pipeline's label: how many members, then how many in each state. */
export function counts(n: GraphNode): string {
  const t = n.tasks;
  const count = t?.count ?? n.children?.length ?? 0;
  const parts = Object.entries(t?.states ?? {})
    .filter(([, v]) => v)
    .map(([k, v]) => `${v} ${k}`);
  return `${plural(count, memberWord(n.kind))}${parts.length ? `: ${parts.join(", ")}` : ""}`;
}

/** Why the properties of a group or pipeline node cannot be edited there. */
export function readOnlyNote(kind: GraphNode["kind"]): string {
  return kind === "pipeline"
    ? "a pipeline's inner steps are edited in its pipeline component"
    : "a matrix, sweep or foreach step is edited in the Pipefile's text, not here: its tasks are drawn from what it declares";
}
