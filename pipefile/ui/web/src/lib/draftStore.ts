// A draft survives a reload: kept under the digest of the file it applies to (a file changed
// on disk is another digest, so an old draft is never applied to it silently). Each tab keeps
// its own in sessionStorage, so that a reload of this tab gets this tab's draft (also an empty
// one), not that of another tab editing the same file; the last one written goes to
// localStorage too, for a tab opened later, or the browser started again.

import type { Draft } from "./draft";

const KEY = "pipe-ui-draft:";

function parse(raw: string | null): Draft | null {
  if (!raw) return null;
  try {
    const d = JSON.parse(raw);
    return Array.isArray(d.ops) ? { ops: d.ops, redo: Array.isArray(d.redo) ? d.redo : [] } : null;
  } catch {
    return null;
  }
}

function read(store: () => Storage, key: string): Draft | null {
  try {
    return parse(store().getItem(key));
  } catch {
    return null; // storage disabled
  }
}

function write(store: () => Storage, key: string, d: Draft | null): void {
  try {
    if (d) store().setItem(key, JSON.stringify(d));
    else store().removeItem(key);
  } catch {
    // storage full or disabled: the draft still lives in memory
  }
}

export function loadDraft(digest: string): Draft | null {
  const own = read(() => sessionStorage, KEY + digest);
  if (own) return own.ops.length || own.redo.length ? own : null;
  const last = read(() => localStorage, KEY + digest);
  write(() => sessionStorage, KEY + digest, last ?? { ops: [], redo: [] }); // this tab's from now on
  return last;
}

export function saveDraft(digest: string, d: Draft): void {
  const empty = !d.ops.length && !d.redo.length;
  write(() => sessionStorage, KEY + digest, d);
  write(() => localStorage, KEY + digest, empty ? null : d);
}

export function lineageKey(digest: string): string {
  return `pipe-ui-lineage:${digest}`;
}
