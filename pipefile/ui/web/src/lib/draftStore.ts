// A draft survives a reload: kept in localStorage under the digest of the file it applies to
// (a file changed on disk is another digest, so an old draft is never applied to it silently).

import type { Draft } from "./draft";

const KEY = "pipe-ui-draft:";

export function loadDraft(digest: string): Draft | null {
  try {
    const raw = localStorage.getItem(KEY + digest);
    if (!raw) return null;
    const d = JSON.parse(raw);
    return Array.isArray(d.ops) ? { ops: d.ops, redo: Array.isArray(d.redo) ? d.redo : [] } : null;
  } catch {
    return null;
  }
}

export function saveDraft(digest: string, d: Draft): void {
  try {
    if (!d.ops.length && !d.redo.length) localStorage.removeItem(KEY + digest);
    else localStorage.setItem(KEY + digest, JSON.stringify(d));
  } catch {
    // storage full or disabled: the draft still lives in memory
  }
}

export function lineageKey(digest: string): string {
  return `pipe-ui-lineage:${digest}`;
}
