// The job timeline (Gantt): one bar per step from its start and duration, scaled to a width.

export interface Bar {
  step: string;
  x: number;
  width: number;
  start: number;
  seconds: number;
  outcome: string;
}

export function timelineBars(
  steps: { step: string; started?: number | null; seconds?: number | null; finished?: number | null; outcome?: string }[],
  width: number,
): { bars: Bar[]; total: number } {
  const timed = steps
    .map((s) => {
      const seconds = s.seconds ?? 0;
      const start = s.started ?? (s.finished != null ? s.finished - seconds : null);
      return start == null ? null : { step: s.step, start, seconds, outcome: s.outcome ?? "" };
    })
    .filter((s): s is { step: string; start: number; seconds: number; outcome: string } => s !== null);
  if (!timed.length) return { bars: [], total: 0 };
  const t0 = Math.min(...timed.map((s) => s.start));
  const t1 = Math.max(...timed.map((s) => s.start + s.seconds));
  const total = Math.max(t1 - t0, 1e-3);
  const bars = timed
    .sort((a, b) => a.start - b.start || a.step.localeCompare(b.step))
    .map((s) => ({
      step: s.step,
      start: s.start - t0,
      seconds: s.seconds,
      outcome: s.outcome,
      x: ((s.start - t0) / total) * width,
      width: Math.max((s.seconds / total) * width, 2),
    }));
  return { bars, total };
}

export function formatSeconds(s: number | null | undefined): string {
  if (s == null) return "";
  if (s < 1) return `${(s * 1000).toFixed(0)} ms`;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - m * 60)} s`;
}

/** The command a run dialog's choices make (the server answers with the one it really ran). */
export function runCommand(file: string, targets: string[], params: Record<string, string>, force: boolean): string {
  const q = (s: string) => (/^[A-Za-z0-9_./=@:+-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`);
  const parts = ["pipe", "run", "-f", q(file)];
  for (const [k, v] of Object.entries(params)) parts.push("-p", q(`${k}=${v}`));
  if (force) parts.push("--force");
  parts.push(...targets.map(q));
  return parts.join(" ");
}
