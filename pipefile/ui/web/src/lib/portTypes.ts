// Which output port may feed which input port: the rule the server's validation applies too
// (docs/ui.md). Pure: the canvas asks it while a connection is being dragged.

const UNTYPED = new Set(["", "any", "unknown", "string_or_path"]);

// Types that are the same thing under two names (a `uri_file` is a file given by path).
const ALIASES: Record<string, string> = { uri_file: "file", uri_folder: "folder" };

function norm(t: string | null | undefined): string {
  const s = (t ?? "").trim().toLowerCase();
  return ALIASES[s] ?? s;
}

/** null when an output of type `out` may feed an input of type `inp`, else the reason it may not. */
export function typeRefusal(out: string | null | undefined, inp: string | null | undefined): string | null {
  const a = norm(out);
  const b = norm(inp);
  if (UNTYPED.has(a) || UNTYPED.has(b) || a === b) return null;
  // a table is stored as a file, so any file input can take it (not the other way round)
  if (a === "table" && b === "file") return null;
  return `type ${out} does not fit input type ${inp}`;
}
