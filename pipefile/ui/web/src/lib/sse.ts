// Server-sent events read from a fetch body: a parser fed chunks as they come (lines may be
// split anywhere, even inside a CRLF) and a reader over it. fetch, not EventSource, so a
// stream that ends (`event: end`) is not reconnected forever and errors can be shown.

export interface SseEvent {
  event: string;
  data: string;
  id: string | null;
}

export class SseParser {
  private buf = "";
  private event = "";
  private data: string[] = [];
  private id: string | null = null;
  private sawCR = false;

  /** Feed text; returns the events completed by it. */
  feed(chunk: string): SseEvent[] {
    const out: SseEvent[] = [];
    let text = chunk;
    // a CR at the end of the last chunk already ended its line: skip the LF that follows it
    if (this.sawCR && text.startsWith("\n")) text = text.slice(1);
    this.sawCR = text.endsWith("\r");
    this.buf += text;
    const lines = this.buf.split(/\r\n|\r|\n/);
    this.buf = lines.pop() ?? "";
    for (const line of lines) {
      const ev = this.line(line);
      if (ev) out.push(ev);
    }
    return out;
  }

  /** The end of the stream: an event not closed by a blank line is dropped (as the spec says). */
  end(): SseEvent[] {
    const rest = this.buf;
    this.buf = "";
    return rest ? ([this.line(rest)].filter(Boolean) as SseEvent[]) : [];
  }

  private line(line: string): SseEvent | null {
    if (line === "") {
      if (!this.data.length && !this.event) return null;
      const ev = { event: this.event || "message", data: this.data.join("\n"), id: this.id };
      this.event = "";
      this.data = [];
      return ev;
    }
    if (line.startsWith(":")) return null;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.event = value;
    else if (field === "data") this.data.push(value);
    else if (field === "id") this.id = value;
    return null;
  }
}

/** Read an event stream until it ends or `signal` aborts; `onEvent` gets each event. */
export async function readEvents(url: string, onEvent: (e: SseEvent) => void, signal: AbortSignal): Promise<void> {
  const res = await fetch(url, { signal, headers: { Accept: "text/event-stream" }, credentials: "same-origin" });
  if (!res.ok || !res.body) throw new Error(`${url}: HTTP ${res.status}`);
  const parser = new SseParser();
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    for (const ev of parser.feed(value)) onEvent(ev);
  }
  for (const ev of parser.end()) onEvent(ev);
}
