// The pipeline page: graph and outline, library, properties, params; the draft (kept per file
// digest), its validation by the server's preview, save with a diff, run.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { enc, errorText, get, HttpError, post } from "../lib/api";
import { applyOps, dropOperation, emptyDraft, push, redo, undo, type Draft } from "../lib/draft";
import { loadDraft, lineageKey, saveDraft } from "../lib/draftStore";
import { warmLayout } from "../lib/layout";
import { connectionRefusal, focusSet, indexGraph, neighbourhood, visibleGraph, type Focus } from "../lib/graphModel";
import type { GraphNode, LibraryItem, LocatedError, Operation, Pipeline } from "../lib/types";
import { go } from "../App";
import { Canvas } from "./Canvas";
import { Diff, ErrorList, Modal, ParamsPanel, RunDialog, type RunChoice } from "./Dialogs";
import { Library } from "./Library";
import { Outline } from "./Outline";
import { Properties } from "./Properties";

// past this many steps the page opens on the list, the graph showing the selection's neighbourhood
export const BIG = 2000;

interface Preview {
  diff: string;
  errors: LocatedError[];
  changed: boolean;
}

export function PipelineView() {
  const [pipe, setPipe] = useState<Pipeline | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [library, setLibrary] = useState<LibraryItem[]>([]);
  const [libError, setLibError] = useState<string | null>(null);
  const [draft, setDraft] = useState<Draft>(emptyDraft);
  const [checked, setChecked] = useState<{ errors: LocatedError[]; opError: string | null }>({ errors: [], opError: null });
  const [selected, setSelected] = useState<string | null>(null);
  const [propsOpen, setPropsOpen] = useState(false);
  const [paramsOpen, setParamsOpen] = useState(false);
  const [expanded, setExpanded] = useState<Set<string>>(new Set());
  const [focus, setFocus] = useState<Focus>(null);
  const [direction, setDirection] = useState<"RIGHT" | "DOWN">("RIGHT");
  const [side, setSide] = useState<"outline" | "library">("outline");
  const [saving, setSaving] = useState<Preview | null>(null);
  // (ready: the view reloaded with the file as it is now; the draft is applied to that only)
  const [conflict, setConflict] = useState<{ diff: string; message: string; ops: Operation[]; ready: boolean } | null>(
    null,
  );
  const [notice, setNotice] = useState<string | null>(null);
  const [runOpen, setRunOpen] = useState(false);
  const [runChoice, setRunChoice] = useState<RunChoice>({ targets: [], params: {}, force: false });
  const [running, setRunning] = useState<{ command: string; output?: string } | null>(null);
  const [lineage, setLineage] = useState<Record<string, unknown> | null>(null);

  useEffect(() => {
    if (!notice) return;
    const t = setTimeout(() => setNotice(null), 8000);
    return () => clearTimeout(t);
  }, [notice]);

  const load = useCallback(async () => {
    try {
      const p = await get<Pipeline>("api/pipeline");
      setPipe(p);
      setLoadError(null);
      setDraft(loadDraft(p.digest) ?? emptyDraft);
      try {
        setLineage(JSON.parse(localStorage.getItem(lineageKey(p.digest)) ?? "null"));
      } catch {
        setLineage(null);
      }
      if ((p.graph?.nodes.length ?? 0) > BIG) setSide("outline");
    } catch (e) {
      setLoadError(errorText(e));
    }
  }, []);

  useEffect(() => {
    warmLayout();
    load();
    get<{ items: LibraryItem[] }>("api/library")
      .then((l) => setLibrary(l.items ?? []))
      .catch((e) => setLibError(errorText(e)));
  }, [load]);

  const readOnly = !pipe || !pipe.ok || !!pipe.read_only;
  const applied = useMemo(
    () => (pipe?.graph ? applyOps(pipe.graph, pipe.params ?? [], draft.ops, library) : null),
    [pipe, draft.ops, library],
  );
  const graph = applied?.graph ?? { nodes: [], edges: [] };
  const params = applied?.params ?? pipe?.params ?? [];
  const idx = useMemo(() => indexGraph(graph), [graph]);
  const big = graph.nodes.length > BIG;

  const change = useCallback(
    (f: (d: Draft) => Draft) =>
      setDraft((d) => {
        const n = f(d);
        if (pipe) saveDraft(pipe.digest, n);
        return n;
      }),
    [pipe],
  );
  const [refused, setRefused] = useState<string | null>(null);
  const addOp = useCallback(
    (op: Operation, coalesce = false) => {
      setRefused(null);
      change((d) => push(d, op, coalesce));
    },
    [change],
  );

  // the server validates the edited text: its errors go on the nodes they concern
  const previewSeq = useRef(0);
  useEffect(() => {
    if (!pipe) return;
    if (!draft.ops.length) {
      setChecked({ errors: pipe.ok ? pipe.errors ?? [] : [], opError: null });
      return;
    }
    const seq = ++previewSeq.current;
    const ops = draft.ops;
    const t = setTimeout(async () => {
      try {
        const r = await post<Preview>("api/preview", { base: pipe.digest, operations: ops });
        if (seq === previewSeq.current) setChecked({ errors: r.errors ?? [], opError: null });
      } catch (e) {
        if (seq !== previewSeq.current) return;
        // A change the server refuses (a step renamed to a name taken, a step deleted that
        // others read) is taken back out of the draft: kept, the canvas showed it done (the
        // other step gone) and no save could write the draft. A value being typed stays: the
        // next key may make it right.
        const at = e instanceof HttpError && e.status === 422 ? e.body.operation : null;
        const op = typeof at === "number" && at === ops.length - 1 ? ops[at] : undefined;
        if (op && op.op !== "set" && op.op !== "set_param") {
          setRefused(errorText(e));
          // (the properties followed the new name: back to the step that kept its own)
          if (op.op === "rename_step") setSelected((sel) => (sel === op.to ? op.name : sel));
          change((d) => (d.ops[d.ops.length - 1] === op ? { ops: d.ops.slice(0, -1), redo: d.redo } : d));
          return;
        }
        setChecked({ errors: [], opError: errorText(e) });
      }
    }, 300);
    return () => clearTimeout(t);
  }, [pipe, draft.ops, change]);

  const errorsByStep = useMemo(() => {
    const m = new Map<string, string[]>();
    for (const e of checked.errors)
      if (e.step) m.set(e.step, [...(m.get(e.step) ?? []), `${e.line != null ? `line ${e.line}: ` : ""}${e.message}`]);
    return m;
  }, [checked.errors]);
  const errorsOf = useCallback((n: string) => errorsByStep.get(n) ?? [], [errorsByStep]);
  const stateOf = useCallback((n: GraphNode) => n.state ?? "unknown", []);

  const only = useMemo(() => {
    const f = focusSet(idx, focus);
    if (f) return f;
    if (big) return selected ? neighbourhood(idx, selected, 1) : new Set<string>();
    return null;
  }, [idx, focus, big, selected]);
  // a selected task inside a folded group is shown by unfolding its groups
  const shownExpanded = useMemo(() => {
    if (!selected) return expanded;
    const n = idx.byName.get(selected);
    if (!n?.group) return expanded;
    const e = new Set(expanded);
    for (let g: string | null | undefined = n.group, i = 0; g && i < 50; g = idx.byName.get(g)?.group, i++) e.add(g);
    return e;
  }, [expanded, selected, idx]);
  const visible = useMemo(() => visibleGraph(graph, shownExpanded, only, idx), [graph, shownExpanded, only, idx]);

  const toggleGroup = useCallback(
    (name: string) =>
      setExpanded((e) => {
        const n = new Set(e);
        if (n.has(name)) n.delete(name);
        else n.add(name);
        return n;
      }),
    [],
  );

  const refusal = useCallback(
    (from: string, fp: string, to: string, tp: string) => (readOnly ? (pipe?.read_only?.message ?? "the Pipefile does not load: fix its errors first") : connectionRefusal(graph, from, fp, to, tp, idx)),
    [graph, readOnly, idx, pipe],
  );

  const selectedInput = (): { step: string; input: string } | null => {
    const n = selected ? idx.byName.get(selected) : undefined;
    const free = n?.inputs?.find((i) => !i.binding) ?? n?.inputs?.[0];
    return n && free ? { step: n.name, input: free.name } : null;
  };
  const addItem = (item: LibraryItem) => {
    if (readOnly) return;
    const op = dropOperation(item, graph.nodes.map((n) => n.name), selectedInput());
    if (op.op === "add_step" && (item.source === "asset" || item.source === "artifact")) {
      setNotice(`select a step's input first, then add ${item.name} to bind it`);
      return;
    }
    addOp(op);
    if (op.op === "add_step") setSelected(op.name);
  };

  // The file changed on disk under the draft: what changed, the view reloaded, and the draft
  // offered to be applied to the new file (a reload alone would find no draft for its digest).
  const conflicted = async (e: unknown, ops: Operation[]): Promise<boolean> => {
    if (!(e instanceof HttpError && e.status === 409)) return false;
    setConflict({ diff: String(e.body.diff ?? ""), message: errorText(e), ops, ready: false });
    await load();
    // Offered once the view holds the new file: applied before, the reload that ended after it
    // replaced the draft with the new file's (none), and the changes were gone.
    setConflict((c) => (c && c.ops === ops ? { ...c, ready: true } : c));
    return true;
  };
  const startSave = async () => {
    if (!pipe) return;
    const ops = draft.ops;
    try {
      const r = await post<Preview>("api/preview", { base: pipe.digest, operations: ops });
      setSaving({ diff: r.diff ?? "", errors: r.errors ?? [], changed: r.changed });
    } catch (e) {
      if (!(await conflicted(e, ops))) setNotice(errorText(e));
    }
  };
  const confirmSave = async () => {
    if (!pipe) return;
    const ops = draft.ops;
    try {
      await post<{ digest: string; diff: string }>("api/save", { base: pipe.digest, operations: ops });
      saveDraft(pipe.digest, emptyDraft);
      localStorage.removeItem(lineageKey(pipe.digest));
      setSaving(null);
      setNotice("saved");
      await load();
    } catch (e) {
      setSaving(null);
      if (!(await conflicted(e, ops))) setNotice(errorText(e));
    }
  };

  // Set while this page is shown: a run's poll stops when the user leaves it.
  const shown = useRef(true);
  useEffect(() => {
    shown.current = true;
    return () => {
      shown.current = false;
    };
  }, []);
  const startRun = async () => {
    if (!pipe) return;
    try {
      const r = await post<{ job: string | number | null; run: string; command: string; waiting?: string | null }>("api/run", runChoice);
      setRunOpen(false);
      setRunning({ command: r.command, output: r.waiting ?? undefined });
      let job = r.job;
      // Its job begins once it holds the workspace: while another pipe holds it (for minutes,
      // perhaps), the run says so, and the page keeps saying it until the job begins or the run ends.
      while (job == null && shown.current) {
        await new Promise((res) => setTimeout(res, 250));
        const s = await get<{ state: string; exit_code: number | null; job: string | number | null; output: string; waiting?: string | null; seconds?: number }>(
          `api/runs/${enc(r.run)}`,
        );
        job = s.job;
        if (job == null && s.state === "done") {
          setRunning({ command: r.command, output: s.output || `exit code ${s.exit_code}` });
          return;
        }
        if (job == null && s.waiting) setRunning({ command: r.command, output: `${s.waiting} (${Math.round(s.seconds ?? 0)} s so far)` });
      }
      if (job != null && shown.current) go(`/jobs/${enc(String(job))}`);
    } catch (e) {
      setNotice(errorText(e));
    }
  };

  if (loadError) return <div className="error page-error">{loadError}</div>;
  if (!pipe) return <div className="muted page-error">loading…</div>;
  const selNode = selected ? idx.byName.get(selected) : undefined;

  return (
    <div className="pipeline-page">
      <div className="toolbar">
        <span className="file" title={pipe.digest}>
          {pipe.file}
        </span>
        <span className="muted small" data-testid="draft-count">
          {draft.ops.length ? `${draft.ops.length} unsaved change${draft.ops.length > 1 ? "s" : ""}` : "saved"}
        </span>
        <button data-testid="undo" disabled={!draft.ops.length} onClick={() => change(undo)} title="undo (Ctrl+Z)">
          ↶ undo
        </button>
        <button data-testid="redo" disabled={!draft.redo.length} onClick={() => change(redo)} title="redo (Ctrl+Shift+Z)">
          ↷ redo
        </button>
        <button data-testid="params" onClick={() => setParamsOpen((o) => !o)}>
          params
        </button>
        <button data-testid="direction" onClick={() => setDirection((d) => (d === "RIGHT" ? "DOWN" : "RIGHT"))}>
          {direction === "RIGHT" ? "left → right" : "top ↓ bottom"}
        </button>
        {focus && (
          <button data-testid="focus-clear" onClick={() => setFocus(null)}>
            clear focus ({focus.step})
          </button>
        )}
        <span className="grow" />
        <button data-testid="save" className="primary" disabled={readOnly} onClick={startSave}>
          save
        </button>
        <button data-testid="run-options" onClick={() => setRunOpen(true)}>
          run…
        </button>
        <button data-testid="run" className="primary" onClick={startRun} title="run the saved Pipefile">
          ▶ run
        </button>
      </div>
      {pipe.ok && pipe.read_only && (
        <div className="read-only-note" data-testid="read-only">
          <b>read only: {pipe.read_only.message}.</b>
          {pipe.read_only.hint && <div className="hint">{pipe.read_only.hint}</div>}
        </div>
      )}
      {!pipe.ok && (
        <div className="load-errors" data-testid="load-errors">
          <b>{pipe.file} does not load: fix it, then reload. The canvas cannot be edited until it does.</b>
          <ErrorList errors={pipe.errors ?? []} />
          <pre className="source">
            {pipe.text.split("\n").map((l, i) => (
              <div key={i} className={(pipe.errors ?? []).some((e) => e.line === i + 1) ? "bad" : ""}>
                <span className="ln">{i + 1}</span>
                {l}
              </div>
            ))}
          </pre>
        </div>
      )}
      <div className="workspace">
        {/* what arrives while the user works floats over the canvas: nothing under the pointer moves */}
        <div className="banners">
          {lineage && (
            <div className="banner" data-testid="lineage">
              draft cloned from job {String(lineage.cloned_from)}
              {Object.entries(lineage)
                .filter(([k]) => k !== "cloned_from")
                .map(([k, v]) => ` · ${k}: ${typeof v === "object" ? JSON.stringify(v) : String(v)}`)}
            </div>
          )}
          {notice && (
            <div className="banner" data-testid="notice">
              {notice}
            </div>
          )}
          {running && (
            <div className="banner" data-testid="run-started">
              <code>{running.command}</code>
              {running.output && <pre className="log">{running.output}</pre>}
            </div>
          )}
          {checked.opError && <div className="error banner" data-testid="op-error">{checked.opError}</div>}
          {refused && (
            <div className="error banner" data-testid="op-refused">
              not done: {refused}
            </div>
          )}
          <ErrorList errors={checked.errors.filter((e) => !e.step)} testid="validation-errors" />
        </div>
        <div className={`side${big ? " wide" : ""}`}>
          <div className="tabs">
            <button className={side === "outline" ? "active" : ""} onClick={() => setSide("outline")} data-testid="tab-outline">
              outline
            </button>
            <button className={side === "library" ? "active" : ""} onClick={() => setSide("library")} data-testid="tab-library">
              library
            </button>
          </div>
          {side === "outline" ? (
            <Outline
              nodes={graph.nodes}
              stateOf={stateOf}
              selected={selected}
              onSelect={(n) => (setSelected(n), setPropsOpen(true))}
              expanded={shownExpanded}
              onToggleGroup={toggleGroup}
              errorsOf={errorsOf}
            />
          ) : (
            <Library items={library} error={libError} disabled={readOnly} onAdd={addItem} />
          )}
        </div>
        <Canvas
          graph={visible}
          direction={direction}
          stateOf={stateOf}
          errorsOf={errorsOf}
          pending={applied?.pending}
          expanded={shownExpanded}
          onToggleGroup={toggleGroup}
          selected={selected}
          onSelect={(n, how) => {
            setSelected(n);
            if (n && how !== "key") setPropsOpen(true);
          }}
          onOpen={(n) => (setSelected(n), setPropsOpen(true))}
          editable={!readOnly}
          refusal={refusal}
          onConnect={(from, fp, to, tp) => addOp({ op: "connect", from: { step: from, output: fp }, to: { step: to, input: tp } })}
          onDropItem={(payload) => {
            try {
              const { source, name } = JSON.parse(payload);
              const item = library.find((i) => i.source === source && i.name === name);
              if (item) addItem(item);
            } catch {
              // not one of ours
            }
          }}
          empty={big ? "select a step in the list: the graph shows its neighbourhood" : pipe.ok ? "no steps yet: drag a component from the library" : ""}
        />
        {paramsOpen && <ParamsPanel params={params} readOnly={readOnly} onSet={(name, value) => addOp({ op: "set_param", name, value }, true)} onClose={() => setParamsOpen(false)} />}
        {propsOpen && selNode && (
          <Properties
            key={selNode.name}
            node={selNode}
            nodes={graph.nodes}
            library={library}
            readOnly={readOnly}
            errors={errorsOf(selNode.name)}
            onOp={(op, c) => {
              addOp(op, c);
              if (op.op === "delete_step") setSelected(null);
              if (op.op === "rename_step") setSelected(op.to);
            }}
            onFocus={setFocus}
            onClose={() => setPropsOpen(false)}
          />
        )}
      </div>
      {saving && (
        <Modal title={`save ${pipe.file}`} onClose={() => setSaving(null)} testid="save-preview">
          <Diff text={saving.diff} />
          <ErrorList errors={saving.errors} testid="save-errors" />
          {/* written with these, the file would not load: pipe would refuse it, and this page could no longer edit it */}
          {saving.errors.length > 0 && (
            <p className="error" data-testid="save-blocked">
              {pipe.file} would not load with {saving.errors.length === 1 ? "this error" : "these errors"} (pipe validate and pipe run would refuse it, and this page could not edit it): fix{" "}
              {saving.errors.length === 1 ? "it" : "them"} first. Your changes are kept as they are.
            </p>
          )}
          <button className="primary" data-testid="save-confirm" disabled={saving.changed && saving.errors.length > 0} onClick={confirmSave}>
            {saving.changed ? "write the file" : "nothing to write: close"}
          </button>
        </Modal>
      )}
      {conflict && (
        <Modal title="the file changed on disk" onClose={() => setConflict(null)} testid="save-conflict">
          <p>{conflict.message}</p>
          <p className="muted">what changed on disk since this page loaded it (the view now shows the file as it is):</p>
          <Diff text={conflict.diff} />
          <button
            data-testid="conflict-reapply"
            disabled={!conflict.ready}
            onClick={() => {
              change(() => ({ ops: conflict.ops, redo: [] }));
              setConflict(null);
            }}
          >
            apply my {conflict.ops.length} change(s) to the new file
          </button>
        </Modal>
      )}
      {runOpen && (
        <RunDialog
          file={pipe.file}
          steps={graph.nodes.filter((n) => !n.group).map((n) => n.name)}
          params={pipe.params ?? []}
          choice={runChoice}
          unsaved={draft.ops.length}
          onChange={setRunChoice}
          onRun={startRun}
          onClose={() => setRunOpen(false)}
        />
      )}
      <KeyboardUndo onUndo={() => change(undo)} onRedo={() => change(redo)} />
    </div>
  );
}

function KeyboardUndo(p: { onUndo: () => void; onRedo: () => void }) {
  useEffect(() => {
    const on = (e: KeyboardEvent) => {
      if (!(e.ctrlKey || e.metaKey) || (e.target as HTMLElement).closest?.("input,textarea,select")) return;
      if (e.key.toLowerCase() === "z") {
        e.preventDefault();
        if (e.shiftKey) p.onRedo();
        else p.onUndo();
      } else if (e.key.toLowerCase() === "y") {
        e.preventDefault();
        p.onRedo();
      }
    };
    window.addEventListener("keydown", on);
    return () => window.removeEventListener("keydown", on);
  }, [p]);
  return null;
}
