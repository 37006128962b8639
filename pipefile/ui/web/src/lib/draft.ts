// The draft: edit operations not yet saved, with undo/redo, and how they change the graph the
// canvas shows before the server has seen them. Pure; persisted per file digest by draftStore.

import type { Graph, GraphNode, LibraryItem, Operation, Param } from "./types";

export interface Draft {
  ops: Operation[];
  redo: Operation[];
}

export const emptyDraft: Draft = { ops: [], redo: [] };

/** Whether `next` only replaces the value `last` set (typing in a field): one undo step, not one per key. */
function sameTarget(last: Operation | undefined, next: Operation): boolean {
  if (!last || last.op !== next.op) return false;
  if (last.op === "set_param" && next.op === "set_param") return last.name === next.name;
  if (last.op === "set" && next.op === "set") return last.step === next.step && last.field === next.field;
  return false;
}

export function push(d: Draft, op: Operation, coalesce = false): Draft {
  const ops = coalesce && sameTarget(d.ops[d.ops.length - 1], op) ? d.ops.slice(0, -1) : d.ops;
  return { ops: [...ops, op], redo: [] };
}

export function undo(d: Draft): Draft {
  if (!d.ops.length) return d;
  return { ops: d.ops.slice(0, -1), redo: [...d.redo, d.ops[d.ops.length - 1]] };
}

export function redo(d: Draft): Draft {
  if (!d.redo.length) return d;
  return { ops: [...d.ops, d.redo[d.redo.length - 1]], redo: d.redo.slice(0, -1) };
}

/** A step name not yet taken: `base`, else `base_2`, `base_3`... */
export function freshName(taken: Iterable<string>, base: string): string {
  const used = new Set(taken);
  const clean = base.replace(/[^A-Za-z0-9_]/g, "_").replace(/^[^A-Za-z_]/, "s_$&") || "step";
  if (!used.has(clean)) return clean;
  for (let i = 2; ; i++) if (!used.has(`${clean}_${i}`)) return `${clean}_${i}`;
}

/** The reference a library item is used by in a Pipefile (`std/NAME@1`, a Pipefile component's name). */
export function componentRef(item: LibraryItem): string {
  if (item.ref) return item.ref;
  if (item.source === "std") return `std/${item.name}@${String(item.version ?? "1").split(".")[0]}`;
  return item.name;
}

/** The name a step made from a library item starts from: `std/split_data@1` -> `split_data`. */
export function shortName(item: LibraryItem): string {
  return item.name.replace(/^.*\//, "").replace(/@.*$/, "") || item.name;
}

/** The operation a library item dropped on the canvas makes: a new step, or an asset bound to a selected input. */
export function dropOperation(
  item: LibraryItem,
  taken: Iterable<string>,
  target: { step: string; input: string } | null,
): Operation {
  if ((item.source === "asset" || item.source === "artifact") && target)
    return { op: "bind_asset", asset: item.name, to: target };
  return {
    op: "add_step",
    name: freshName(taken, shortName(item)),
    component: componentRef(item),
    command: null,
    inputs: {},
    outputs: {},
    params: {},
  };
}

const STEP_REF = /^\$\{\{\s*steps\.([^.\s]+)\.outputs\.([^\s}]+)\s*\}\}$/;

function setIn(node: GraphNode, field: string, value: unknown): GraphNode {
  const [head, name, tail] = field.split(".");
  const n: GraphNode = { ...node };
  if (head === "inputs" && name !== undefined) {
    const has = (n.inputs ?? []).some((p) => p.name === name);
    n.inputs = has
      ? (n.inputs ?? []).map((p) => (p.name === name ? { ...p, binding: value as never } : p))
      : [...(n.inputs ?? []), { name, type: null, optional: true, binding: value as never }];
  } else if (head === "params" && name !== undefined) {
    n.params = { ...(n.params ?? {}) };
    if (value === null) delete n.params[name];
    else n.params[name] = value;
  } else if (head === "outputs" && name !== undefined && tail === "path") {
    n.outputs = (n.outputs ?? []).map((p) => (p.name === name ? { ...p, path: value as string } : p));
  } else if (head === "resources" && name !== undefined) {
    n.resources = { ...(n.resources ?? {}) };
    if (value === null) delete n.resources[name];
    else n.resources[name] = value;
  } else if (head === "matrix" && name !== undefined && Array.isArray(value)) {
    n.matrix = { ...(n.matrix ?? {}), [name]: value };
  } else if (head === "environment") n.environment = value as string | null;
  else if (head === "description") n.description = value as string | null;
  return n;
}

/** A renamed step's outputs as the server writes them (edit/steps.py): one at build/OLD/OUTPUT
 * follows it to build/NEW/OUTPUT, unless another step names build/OLD (a plain-path input) or
 * any names build/NEW already; null when nothing moves. (A command naming them, which the page
 * does not see, keeps them too: the saved file then shows them where they stay.) */
function movedOutputs(g: Graph, from: string, to: string): GraphNode["outputs"] | null {
  const node = g.nodes.find((n) => n.name === from);
  if (!node?.outputs?.length) return null;
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const names = (s: string) => new RegExp(`(?<![A-Za-z0-9_-])build/${esc(s)}(?![A-Za-z0-9_-])`);
  const own = (o: { name: string; path?: string | null }) => typeof o.path === "string" && o.path.replace(/\/+$/, "") === `build/${from}/${o.name}`;
  if (!node.outputs.some(own)) return null;
  const texts: string[] = [];
  for (const n of g.nodes) {
    for (const p of n.inputs ?? []) if (typeof p.binding === "string") texts.push(p.binding);
    for (const o of n.outputs ?? []) if (typeof o.path === "string" && !(n.name === from && own(o))) texts.push(o.path);
  }
  if (texts.some((t) => names(from).test(t))) return null;
  if (g.nodes.some((n) => (n.outputs ?? []).some((o) => typeof o.path === "string" && names(to).test(o.path)))) return null;
  return node.outputs.map((o) => (own(o) ? { ...o, path: `build/${to}/${o.name}${o.path!.slice(o.path!.replace(/\/+$/, "").length)}` } : o));
}

function rebindEdges(g: Graph, step: string, input: string, binding: unknown): Graph {
  const edges = g.edges.filter((e) => !(e.to === step && e.to_port === input));
  const m = typeof binding === "string" ? STEP_REF.exec(binding) : null;
  if (m) edges.push({ from: m[1], from_port: m[2], to: step, to_port: input });
  return { ...g, edges };
}

/**
 * The graph (and params) as they will be once `ops` are saved: what the canvas draws for a draft.
 * Operations it cannot follow (a step that is not there) are skipped: the server's preview names them.
 */
export function applyOps(
  g: Graph,
  params: Param[],
  ops: Operation[],
  library: LibraryItem[],
): { graph: Graph; params: Param[]; pending: Set<string> } {
  // `graph.nodes` is this function's own copy, changed in place: an operation on one step of a
  // 10,000-step draft does not copy the list again (the page applies the draft on every change)
  let graph: Graph = { nodes: [...g.nodes], edges: [...g.edges] };
  let at = new Map(graph.nodes.map((n, i) => [n.name, i]));
  const reindex = () => (at = new Map(graph.nodes.map((n, i) => [n.name, i])));
  let ps = [...params];
  const pending = new Set<string>();
  const mapNode = (name: string, f: (n: GraphNode) => GraphNode) => {
    const i = at.get(name);
    if (i !== undefined) graph.nodes[i] = f(graph.nodes[i]);
    pending.add(name);
  };
  for (const op of ops) {
    switch (op.op) {
      case "set_param": {
        const has = ps.some((p) => p.name === op.name);
        ps = has
          ? ps.map((p) => (p.name === op.name ? { ...p, default: op.value, value: op.value } : p))
          : [...ps, { name: op.name, default: op.value, value: op.value, type: null }];
        break;
      }
      case "set":
        mapNode(op.step, (n) => setIn(n, op.field, op.value));
        if (op.field.startsWith("inputs.")) graph = rebindEdges(graph, op.step, op.field.slice(7), op.value);
        break;
      case "add_step": {
        const item = library.find((i) => componentRef(i) === op.component || i.name === op.component);
        graph.nodes.push({
          name: op.name,
          kind: "step",
          label: op.name,
          component: op.component,
          description: item?.description ?? null,
          inputs: (item?.inputs ?? []).map((p) => ({
            name: p.name,
            type: p.type,
            optional: !!p.optional,
            binding: (op.inputs[p.name] as never) ?? null,
          })),
          // where the server writes an output not given: build/STEP/OUTPUT (edit/steps.py), shown as it will be saved
          outputs: (item?.outputs ?? []).map((p) => ({ name: p.name, type: p.type, path: typeof op.outputs[p.name] === "string" ? (op.outputs[p.name] as string) : `build/${op.name}/${p.name}` })),
          params: { ...op.params },
          environment: null,
          resources: {},
          state: "pending",
          reasons: ["new step (not saved yet)"],
          tasks: null,
          children: null,
          line: null,
        });
        at.set(op.name, graph.nodes.length - 1);
        pending.add(op.name);
        break;
      }
      case "connect": {
        const b = `\${{steps.${op.from.step}.outputs.${op.from.output}}}`;
        mapNode(op.to.step, (n) => setIn(n, `inputs.${op.to.input}`, b));
        graph = rebindEdges(graph, op.to.step, op.to.input, b);
        break;
      }
      case "disconnect":
        mapNode(op.to.step, (n) => setIn(n, `inputs.${op.to.input}`, null));
        graph = rebindEdges(graph, op.to.step, op.to.input, null);
        break;
      case "bind_asset":
        mapNode(op.to.step, (n) => setIn(n, `inputs.${op.to.input}`, `\${{assets.${op.asset}}}`));
        graph = rebindEdges(graph, op.to.step, op.to.input, null);
        break;
      case "promote": {
        const node = graph.nodes[at.get(op.step) ?? -1];
        if (!node) break;
        const [head, name] = op.field.split(".");
        const current =
          head === "params" ? node.params?.[name] : node.inputs?.find((p) => p.name === name)?.binding ?? null;
        if (!ps.some((p) => p.name === op.param))
          ps = [...ps, { name: op.param, default: current, value: current, type: null }];
        mapNode(op.step, (n) => setIn(n, op.field, `\${{params.${op.param}}}`));
        if (head === "inputs") graph = rebindEdges(graph, op.step, name, null);
        break;
      }
      case "delete_step":
        graph = {
          nodes: graph.nodes.filter((n) => n.name !== op.name),
          edges: graph.edges.filter((e) => e.from !== op.name && e.to !== op.name),
        };
        reindex();
        pending.delete(op.name);
        break;
      case "rename_step": {
        const ren = (s: string) => (s === op.name ? op.to : s);
        const moved = movedOutputs(graph, op.name, op.to);
        graph = {
          nodes: graph.nodes.map((n) => (n.name === op.name ? { ...n, name: op.to, label: op.to, outputs: moved ?? n.outputs } : n)),
          edges: graph.edges.map((e) => ({ ...e, from: ren(e.from), to: ren(e.to) })),
        };
        reindex();
        pending.add(op.to);
        break;
      }
    }
  }
  return { graph, params: ps, pending };
}
