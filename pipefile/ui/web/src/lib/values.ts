// Text typed into a field -> the value an operation carries: numbers stay numbers in the YAML
// (a param typed 0.02 must not be written as the string '0.02').

const NUM = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

export function coerce(text: string, type: string | null | undefined, current: unknown): unknown {
  const t = (type ?? "").toLowerCase();
  const trimmed = text.trim();
  if (t === "string" || t === "str" || t === "path") return text;
  if (t === "boolean" || t === "bool") return trimmed === "true";
  if (["number", "float", "integer", "int"].includes(t)) return NUM.test(trimmed) ? Number(trimmed) : text;
  if (t === "list") {
    // the field shows the list as JSON (show): typed back as JSON, it is a list again
    try {
      const v = JSON.parse(trimmed);
      if (Array.isArray(v)) return v;
    } catch {
      // not a list yet (still being typed): the server's check says how to write one
    }
    return text;
  }
  // untyped: keep the kind the value had
  if (typeof current === "string") return text;
  if (NUM.test(trimmed)) return Number(trimmed);
  if (trimmed === "true" || trimmed === "false") return trimmed === "true";
  return text;
}

export function show(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}
