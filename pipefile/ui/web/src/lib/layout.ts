// Asks the layout worker for positions; the newest request wins (older answers are dropped).
import type { LayoutAnswer, LayoutRequest } from "./layout.worker";

let worker: Worker | null = null;
let seq = 0;
const waiting = new Map<number, (a: LayoutAnswer) => void>();

function getWorker(): Worker {
  if (!worker) {
    worker = new Worker(new URL("./layout.worker.ts", import.meta.url), { type: "module" });
    worker.onmessage = (ev: MessageEvent<LayoutAnswer>) => {
      const done = waiting.get(ev.data.id);
      waiting.delete(ev.data.id);
      done?.(ev.data);
    };
  }
  return worker;
}

export function layout(req: Omit<LayoutRequest, "id">): Promise<LayoutAnswer> {
  const id = ++seq;
  return new Promise((resolve) => {
    waiting.set(id, resolve);
    getWorker().postMessage({ ...req, id });
  });
}

/** Start the worker (and its 1.4 MB of ELK) while the page still waits for the pipeline. */
export function warmLayout(): void {
  getWorker();
}
