// The shapes of the `pipe ui` server's answers (docs/ui.md; the contract shared with the server).

export type StepState = "fresh" | "run" | "restore" | "pending" | "unknown";
export type Outcome = "ran" | "restored" | "fresh" | "failed" | "skipped" | "running" | "pending";

export interface InPort {
  name: string;
  type?: string | null;
  optional?: boolean;
  binding?: string | number | boolean | null;
}
export interface OutPort {
  name: string;
  type?: string | null;
  path?: string | null;
}
export interface GraphNode {
  name: string;
  kind: "step" | "group" | "pipeline";
  label?: string;
  component?: string | null;
  description?: string | null;
  inputs?: InPort[];
  outputs?: OutPort[];
  params?: Record<string, unknown>;
  environment?: string | null;
  resources?: Record<string, unknown> | null;
  state?: string;
  reasons?: string[];
  tasks?: { count: number; states: Record<string, number> } | null;
  children?: string[] | null;
  group?: string | null;
  line?: number | null;
  /** a matrix step's axes, their values as the Pipefile writes them (edited with `set matrix.AXIS`) */
  matrix?: Record<string, unknown[]> | null;
  // job pages
  started?: number | null;
  seconds?: number | null;
}
export interface GraphEdge {
  from: string;
  from_port: string;
  to: string;
  to_port: string;
}
export interface Graph {
  nodes: GraphNode[];
  edges: GraphEdge[];
}
export interface LocatedError {
  message: string;
  hint?: string | null;
  file?: string | null;
  line?: number | null;
  column?: number | null;
  step?: string | null;
}
export interface Param {
  name: string;
  type?: string | null;
  default?: unknown;
  value?: unknown;
  description?: string | null;
  enum?: unknown[] | null;
}
export interface Pipeline {
  file: string;
  digest: string;
  text: string;
  ok: boolean;
  errors: LocatedError[];
  params: Param[];
  graph: Graph | null;
  // why the designer does not edit this file (a Python pipeline, an Azure ML job), or null
  read_only?: { message: string; hint?: string | null } | null;
}
export interface LibPort {
  name: string;
  type?: string | null;
  optional?: boolean;
  default?: unknown;
  description?: string | null;
  enum?: unknown[] | null;
}
export interface LibraryItem {
  source: "std" | "pipefile" | "asset" | "artifact";
  name: string;
  version?: string | null;
  description?: string | null;
  inputs?: LibPort[];
  outputs?: LibPort[];
  params?: LibPort[];
  versions?: unknown[];
  ref?: string | null;
}

export type Operation =
  | { op: "set_param"; name: string; value: unknown }
  | { op: "set"; step: string; field: string; value: unknown }
  | {
      op: "add_step";
      name: string;
      component: string | null;
      command: string | null;
      inputs: Record<string, unknown>;
      outputs: Record<string, unknown>;
      params: Record<string, unknown>;
    }
  | { op: "connect"; from: { step: string; output: string }; to: { step: string; input: string } }
  | { op: "disconnect"; to: { step: string; input: string } }
  | { op: "bind_asset"; asset: string; to: { step: string; input: string } }
  | { op: "promote"; step: string; field: string; param: string }
  | { op: "delete_step"; name: string }
  | { op: "rename_step"; name: string; to: string };

export interface ApiError {
  message: string;
  hint?: string | null;
  file?: string | null;
  line?: number | null;
}
