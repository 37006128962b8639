// The params panel, the save preview (diff) and conflict, and the run dialog.
import type { LocatedError, Param } from "../lib/types";
import { coerce, show } from "../lib/values";
import { runCommand } from "../lib/timeline";
import { TypedInput } from "./TypedInput";

export function Diff({ text }: { text: string }) {
  if (!text) return <div className="muted">no changes: saving writes nothing</div>;
  return (
    <pre className="diff" data-testid="diff">
      {text.split("\n").map((l, i) => (
        <div key={i} className={l.startsWith("+") && !l.startsWith("+++") ? "add" : l.startsWith("-") && !l.startsWith("---") ? "del" : l.startsWith("@@") ? "hunk" : ""}>
          {l || " "}
        </div>
      ))}
    </pre>
  );
}

export function ErrorList({ errors, testid }: { errors: LocatedError[]; testid?: string }) {
  if (!errors.length) return null;
  return (
    <ul className="errors" data-testid={testid}>
      {errors.map((e, i) => (
        <li key={i} className="error">
          <b>
            {e.file ?? "Pipefile"}
            {e.line != null ? `:${e.line}` : ""}
            {e.column != null ? `:${e.column}` : ""}
          </b>
          {e.step ? ` (step ${e.step})` : ""}: {e.message}
          {e.hint && <div className="hint">hint: {e.hint}</div>}
        </li>
      ))}
    </ul>
  );
}

export function ParamsPanel(p: { params: Param[]; readOnly: boolean; onSet: (name: string, value: unknown) => void; onClose: () => void }) {
  return (
    <div className="panel params-panel" data-testid="params-panel">
      <header>
        <b>pipeline params</b>
        <button className="close" onClick={p.onClose}>
          ×
        </button>
      </header>
      {!p.params.length && <div className="muted">this Pipefile declares no params</div>}
      {p.params.map((x) => (
        <div className="field" key={x.name}>
          <label title={x.description ?? ""}>
            {x.name} <span className="muted small">{x.type ?? ""}</span>
          </label>
          {x.enum && x.enum.length ? (
            <select value={show(x.default)} disabled={p.readOnly} data-testid={`param-${x.name}`} onChange={(e) => p.onSet(x.name, coerce(e.target.value, x.type, x.enum![0]))}>
              {/* a required param has no value yet: the menu must not look as if its first value were chosen */}
              {!x.enum.some((v) => show(v) === show(x.default)) && (
                <option value={show(x.default)} disabled>
                  {x.default === null || x.default === undefined ? "(required: choose one)" : show(x.default)}
                </option>
              )}
              {x.enum.map((v) => (
                <option key={show(v)} value={show(v)}>
                  {show(v)}
                </option>
              ))}
            </select>
          ) : x.type === "boolean" ? (
            <input type="checkbox" checked={x.default === true} disabled={p.readOnly} data-testid={`param-${x.name}`} onChange={(e) => p.onSet(x.name, e.target.checked)} />
          ) : (
            <TypedInput value={x.default} disabled={p.readOnly} testid={`param-${x.name}`} parse={(text) => coerce(text, x.type, x.default)} onValue={(v) => p.onSet(x.name, v)} />
          )}
          {x.description && <div className="muted small">{x.description}</div>}
        </div>
      ))}
    </div>
  );
}

export function Modal(p: { title: string; children: React.ReactNode; onClose: () => void; testid?: string }) {
  return (
    <div className="modal-back" onClick={p.onClose}>
      <div className="modal" data-testid={p.testid} onClick={(e) => e.stopPropagation()}>
        <header>
          <b>{p.title}</b>
          <button className="close" onClick={p.onClose} data-testid={p.testid ? `${p.testid}-close` : undefined}>
            ×
          </button>
        </header>
        {p.children}
      </div>
    </div>
  );
}

export interface RunChoice {
  targets: string[];
  params: Record<string, string>;
  force: boolean;
}

export function RunDialog(p: {
  file: string;
  steps: string[];
  params: Param[];
  choice: RunChoice;
  unsaved: number;
  onChange: (c: RunChoice) => void;
  onRun: () => void;
  onClose: () => void;
}) {
  const c = p.choice;
  return (
    <Modal title="run" onClose={p.onClose} testid="run-dialog">
      {p.unsaved > 0 && <div className="warn">{p.unsaved} unsaved change(s) are not part of the run: it runs the saved Pipefile.</div>}
      <div className="field">
        <label>targets (none: all steps)</label>
        <select
          multiple
          size={Math.min(8, Math.max(3, p.steps.length))}
          value={c.targets}
          data-testid="run-targets"
          onChange={(e) => p.onChange({ ...c, targets: [...e.target.selectedOptions].map((o) => o.value) })}
        >
          {p.steps.map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>
      </div>
      {p.params.map((x) => (
        <div className="field" key={x.name}>
          <label>
            -p {x.name} <span className="muted small">(default {show(x.default)})</span>
          </label>
          <input
            value={c.params[x.name] ?? ""}
            data-testid={`run-param-${x.name}`}
            onChange={(e) => {
              const params = { ...c.params };
              if (e.target.value === "") delete params[x.name];
              else params[x.name] = e.target.value;
              p.onChange({ ...c, params });
            }}
          />
        </div>
      ))}
      <label>
        <input type="checkbox" checked={c.force} data-testid="run-force" onChange={(e) => p.onChange({ ...c, force: e.target.checked })} /> force (run even fresh tasks)
      </label>
      <pre className="command" data-testid="run-command">
        {runCommand(p.file, c.targets, c.params, c.force)}
      </pre>
      <button className="primary" data-testid="run-submit" onClick={p.onRun}>
        run
      </button>
    </Modal>
  );
}
