// The lines a step's log panel keeps: at most a cap, the oldest dropped and counted. A chatty
// step's log streamed line by line into an ever longer array (each line a copy of it) froze
// the page for tens of seconds at a time, its heap past 300 MB.

// (above the server's 10,000 lines of a log's tail, so that its line saying what it left out stays)
export const MAX_LOG_LINES = 20_000;

export interface LogLines {
  lines: string[];
  dropped: number; // lines received, then left out to keep the cap
}

export const noLines: LogLines = { lines: [], dropped: 0 };

/** `s` with `add` appended, the oldest lines past `max` dropped. */
export function appendLines(s: LogLines, add: string[], max = MAX_LOG_LINES): LogLines {
  if (!add.length) return s;
  const all = s.lines.length + add.length > max ? s.lines.concat(add) : [...s.lines, ...add];
  const cut = Math.max(0, all.length - max);
  return cut ? { lines: all.slice(cut), dropped: s.dropped + cut } : { lines: all, dropped: s.dropped };
}
