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
export function readOnlyNote(kind: GraphNode["kind"], axes = false): string {
  if (kind === "pipeline") return "a pipeline's inner steps are edited in its pipeline component";
  return axes
    ? "its matrix values are edited below; the rest of a matrix step in the Pipefile's text: its tasks are drawn from what it declares"
    : "a matrix, sweep or foreach step is edited in the Pipefile's text, not here: its tasks are drawn from what it declares";
}

/** A matrix axis's values typed as text (`0.1, 0.2`, or a JSON list): each one of the axis
 * input's type where it reads as one; null while it is no list to send (empty, a value twice). */
export function axisValues(text: string, type: string | null | undefined): unknown[] | null {
  const t = text.trim();
  let items: unknown[];
  if (t.startsWith("[")) {
    try {
      const got = JSON.parse(t);
      if (!Array.isArray(got)) return null;
      items = got;
    } catch {
      return null;
    }
  } else {
    const kind = (type ?? "").toLowerCase();
    items = t
      .split(",")
      .map((x) => x.trim())
      .filter((x) => x !== "")
      .map((x) => {
        if ((kind === "number" || kind === "integer") && /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(x)) {
          const v = Number(x);
          return kind === "integer" && !Number.isInteger(v) ? x : v;
        }
        if (kind === "boolean" && (x === "true" || x === "false")) return x === "true";
        return x;
      });
  }
  const seen = new Set(items.map((v) => `${typeof v}:${String(v)}`));
  return items.length && seen.size === items.length ? items : null;
}
