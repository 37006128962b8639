// The properties pane of one step: typed fields for its inputs and params (from its component's
// declaration: defaults, optional, enums), output paths, environment, resources; promote, delete,
// rename, focus. Every change is one draft operation.
import { useEffect, useRef, useState } from "react";
import type { Focus } from "../lib/graphModel";
import type { GraphNode, LibPort, LibraryItem, Operation } from "../lib/types";
import { coerce, show } from "../lib/values";
import { componentRef } from "../lib/draft";
import { typeRefusal } from "../lib/portTypes";
import { axisValues, readOnlyNote } from "../lib/words";
import { TypedInput } from "./TypedInput";

const STEP_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** A matrix axis's values as one line of text; sent as a list once it reads as one (each key
 * kept as typed: "0." is not shown back as "0"). */
function AxisField(p: { axis: string; values: unknown[]; type?: string | null; disabled: boolean; onChange: (v: unknown[]) => void }) {
  const shown = (vs: unknown[]) => (vs.every((v) => typeof v !== "string" || !v.includes(",")) ? vs.map(String).join(", ") : JSON.stringify(vs));
  const [text, setText] = useState(() => shown(p.values));
  // values changed from elsewhere (undo, redo, a reload) replace the text, as TypedInput does
  const sent = useRef(JSON.stringify(p.values));
  useEffect(() => {
    if (JSON.stringify(p.values) !== sent.current) {
      sent.current = JSON.stringify(p.values);
      setText(shown(p.values));
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [p.values]);
  const parsed = axisValues(text, p.type);
  return (
    <div className="field">
      <label>
        {p.axis} <span className="muted small">{p.type ?? ""}, values separated by commas</span>
      </label>
      <input
        value={text}
        disabled={p.disabled}
        data-testid={`matrix-${p.axis}`}
        onChange={(e) => {
          setText(e.target.value);
          const v = axisValues(e.target.value, p.type);
          if (v) {
            sent.current = JSON.stringify(v);
            p.onChange(v);
          }
        }}
      />
      {!parsed && <div className="muted small" data-testid={`matrix-hint-${p.axis}`}>give one value or more, each once</div>}
    </div>
  );
}

function Field(p: {
  id: string;
  label: string;
  hint?: string;
  value: unknown;
  spec?: LibPort;
  disabled: boolean;
  onChange: (v: unknown) => void;
  onPromote?: (name: string) => void;
  promoteName?: string;
}) {
  const [promoting, setPromoting] = useState<string | null>(null);
  const type = (p.spec?.type ?? "").toLowerCase();
  let input;
  const isRef = typeof p.value === "string" && p.value.includes("${{");
  // a reference (${{params.x}}) stays visible as text even where the field has a menu
  if (p.spec?.enum && p.spec.enum.length && !isRef) {
    input = (
      <select value={show(p.value)} disabled={p.disabled} data-testid={`prop-${p.id}`} onChange={(e) => p.onChange(coerce(e.target.value, p.spec?.type, p.spec?.enum?.[0]))}>
        <option value="">{p.spec.default !== undefined && p.spec.default !== null ? `(default ${show(p.spec.default)})` : ""}</option>
        {p.spec.enum.map((v) => (
          <option key={show(v)} value={show(v)}>
            {show(v)}
          </option>
        ))}
      </select>
    );
  } else if ((type === "boolean" || type === "bool") && !isRef) {
    input = <input type="checkbox" checked={p.value === true} disabled={p.disabled} data-testid={`prop-${p.id}`} onChange={(e) => p.onChange(e.target.checked)} />;
  } else {
    input = (
      <TypedInput
        value={p.value}
        disabled={p.disabled}
        testid={`prop-${p.id}`}
        placeholder={p.spec?.default !== undefined && p.spec?.default !== null ? `default ${show(p.spec.default)}` : p.spec?.optional ? "optional" : ""}
        parse={(text) => (text === "" ? null : coerce(text, p.spec?.type, p.value))}
        onValue={p.onChange}
      />
    );
  }
  return (
    <div className="field">
      <label title={p.spec?.description ?? ""}>
        {p.label} {p.hint && <span className="muted small">{p.hint}</span>}
      </label>
      <div className="field-row">
        {input}
        {p.onPromote && (
          <button className="small" disabled={p.disabled} data-testid={`promote-${p.id}`} title="make this value a pipeline param" onClick={() => setPromoting(p.promoteName ?? "")}>
            ⤴ param
          </button>
        )}
      </div>
      {promoting !== null && (
        <div className="field-row">
          <input value={promoting} data-testid={`promote-name-${p.id}`} onChange={(e) => setPromoting(e.target.value)} />
          <button
            className="small"
            data-testid={`promote-ok-${p.id}`}
            disabled={!/^[A-Za-z_][A-Za-z0-9_]*$/.test(promoting)}
            onClick={() => {
              p.onPromote!(promoting);
              setPromoting(null);
            }}
          >
            promote
          </button>
        </div>
      )}
    </div>
  );
}

export function Properties(p: {
  node: GraphNode;
  nodes: GraphNode[];
  library: LibraryItem[];
  readOnly: boolean;
  errors: string[];
  onOp: (op: Operation, coalesce?: boolean) => void;
  onFocus: (f: Focus) => void;
  onClose: () => void;
}) {
  const n = p.node;
  const item = p.library.find((i) => i.source !== "asset" && i.source !== "artifact" && n.component && (componentRef(i) === n.component || i.name === n.component));
  const set = (field: string, value: unknown) => p.onOp({ op: "set", step: n.name, field, value }, true);
  const paramSpecs = new Map((item?.params ?? []).map((x) => [x.name, x]));
  // a component's params are written as inputs in a Pipefile: each field once, where the step has it
  const inputNames = new Set((n.inputs ?? []).map((x) => x.name));
  const paramNames = [...new Set([...paramSpecs.keys(), ...Object.keys(n.params ?? {})])].filter((x) => !inputNames.has(x));
  const inputSpecs = new Map([...(item?.params ?? []), ...(item?.inputs ?? [])].map((x) => [x.name, x]));
  const [rename, setRename] = useState(n.name);
  const [newRes, setNewRes] = useState("");
  const ro = p.readOnly || n.kind !== "step" || !!n.group;
  return (
    <aside className="properties" data-testid="properties">
      <header>
        <b data-testid="properties-name">{n.name}</b>
        <span className="muted small"> {n.component ?? n.kind}</span>
        <button className="close" onClick={p.onClose} title="close" data-testid="properties-close">
          ×
        </button>
      </header>
      {n.description && <p className="muted">{n.description}</p>}
      {n.line != null && <div className="muted small">declared at line {n.line}</div>}
      {p.errors.map((e, i) => (
        <div className="error" key={i}>
          {e}
        </div>
      ))}
      {(n.reasons ?? []).length > 0 && (
        <ul className="reasons">
          {(n.reasons ?? []).map((r, i) => (
            <li key={i}>{r}</li>
          ))}
        </ul>
      )}
      <div className="btns">
        <button onClick={() => p.onFocus({ step: n.name, direction: "up" })} data-testid="focus-up">
          focus upstream
        </button>
        <button onClick={() => p.onFocus({ step: n.name, direction: "down" })} data-testid="focus-down">
          downstream
        </button>
        <button onClick={() => p.onFocus({ step: n.name, direction: "both" })} data-testid="focus-both">
          both
        </button>
      </div>
      {ro && n.kind !== "step" && <p className="muted small">{readOnlyNote(n.kind, !!n.matrix && !p.readOnly)}</p>}
      {n.matrix && Object.keys(n.matrix).length > 0 && (
        <>
          <h4>matrix</h4>
          {Object.entries(n.matrix).map(([axis, values]) => (
            <AxisField
              key={axis}
              axis={axis}
              values={values}
              type={(n.inputs ?? []).find((x) => x.name === axis)?.type}
              disabled={p.readOnly}
              onChange={(v) => set(`matrix.${axis}`, v)}
            />
          ))}
        </>
      )}

      <h4>inputs</h4>
      {(n.inputs ?? []).length === 0 && <div className="muted small">none</div>}
      {(n.inputs ?? []).map((port) => {
        const spec = { ...inputSpecs.get(port.name), name: port.name, type: port.type, optional: port.optional } as LibPort;
        const sources = p.nodes.flatMap((m) =>
          m.name === n.name || m.kind !== "step"
            ? []
            : (m.outputs ?? []).filter((o) => typeRefusal(o.type, port.type) === null).map((o) => `${m.name}.${o.name}`),
        );
        return (
          <div key={port.name}>
            <Field
              id={`inputs.${port.name}`}
              label={port.name}
              hint={`${port.type ?? "any"}${port.optional ? ", optional" : ""}`}
              value={port.binding}
              spec={{ ...spec, type: "string" }}
              disabled={ro}
              onChange={(v) => set(`inputs.${port.name}`, v)}
              onPromote={(name) => p.onOp({ op: "promote", step: n.name, field: `inputs.${port.name}`, param: name })}
              promoteName={port.name}
            />
            {!ro && sources.length > 0 && (
              <select
                className="small"
                value=""
                data-testid={`connect-from-${port.name}`}
                onChange={(e) => {
                  const [step, output] = e.target.value.split(".");
                  if (step) p.onOp({ op: "connect", from: { step, output }, to: { step: n.name, input: port.name } });
                }}
              >
                <option value="">connect from…</option>
                {sources.map((s) => (
                  <option key={s} value={s}>
                    {s}
                  </option>
                ))}
              </select>
            )}
          </div>
        );
      })}

      <h4>params</h4>
      {paramNames.length === 0 && <div className="muted small">none</div>}
      {paramNames.map((name) => (
        <Field
          key={name}
          id={`params.${name}`}
          label={name}
          hint={`${paramSpecs.get(name)?.type ?? ""}${paramSpecs.get(name)?.optional ? ", optional" : ""}`}
          value={n.params?.[name]}
          spec={paramSpecs.get(name)}
          disabled={ro}
          onChange={(v) => set(`params.${name}`, v)}
          onPromote={(pname) => p.onOp({ op: "promote", step: n.name, field: `params.${name}`, param: pname })}
          promoteName={name}
        />
      ))}

      <h4>outputs</h4>
      {(n.outputs ?? []).map((o) => (
        <Field key={o.name} id={`outputs.${o.name}.path`} label={o.name} hint={o.type ?? ""} value={o.path} spec={{ name: o.name, type: "string" }} disabled={ro} onChange={(v) => set(`outputs.${o.name}.path`, v)} />
      ))}

      <h4>environment and resources</h4>
      <Field id="environment" label="environment" value={n.environment} spec={{ name: "environment", type: "string" }} disabled={ro} onChange={(v) => set("environment", v)} />
      {Object.entries(n.resources ?? {}).map(([k, v]) => (
        <Field key={k} id={`resources.${k}`} label={k} value={v} disabled={ro} onChange={(x) => set(`resources.${k}`, x)} />
      ))}
      {!ro && (
        <div className="field-row">
          <input placeholder="resource (cpus, memory, gpus)" value={newRes} onChange={(e) => setNewRes(e.target.value)} data-testid="resource-new" />
          <button className="small" disabled={!/^[A-Za-z_][A-Za-z0-9_]*$/.test(newRes)} onClick={() => (set(`resources.${newRes}`, 1), setNewRes(""))}>
            add
          </button>
        </div>
      )}

      {!ro && (
        <>
          <h4>step</h4>
          <div className="field-row">
            <input value={rename} onChange={(e) => setRename(e.target.value)} data-testid="rename-to" />
            <button
              className="small"
              data-testid="rename-step"
              disabled={rename === n.name || !STEP_NAME.test(rename)}
              onClick={() => p.onOp({ op: "rename_step", name: n.name, to: rename })}
            >
              rename
            </button>
          </div>
          {/* (the button is disabled: say why, as the server would) */}
          {rename !== n.name && !STEP_NAME.test(rename) && (
            <div className="muted small" data-testid="rename-hint">
              a step name is ASCII letters, digits, '_' and '-', starting with a letter or '_'
            </div>
          )}
          <button className="danger" data-testid="delete-step" onClick={() => p.onOp({ op: "delete_step", name: n.name })}>
            delete step
          </button>
        </>
      )}
    </aside>
  );
}
