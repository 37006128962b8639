// A text field for a typed value. What it shows is what the user typed, not the value that text
// parses to: "0." is a number on its way to "0.02", and showing the 0 it parses to would take
// the dot away (typing 0.025 key by key wrote 25). A value changed from elsewhere (undo, redo,
// a reload) replaces the text.
import { useEffect, useRef, useState } from "react";
import { show } from "../lib/values";

export function TypedInput(p: {
  value: unknown;
  parse: (text: string) => unknown;
  onValue: (v: unknown) => void;
  disabled?: boolean;
  placeholder?: string;
  testid: string;
}) {
  const [text, setText] = useState(show(p.value));
  const sent = useRef<unknown>(p.value);
  useEffect(() => {
    if (show(p.value) !== show(sent.current)) {
      sent.current = p.value;
      setText(show(p.value));
    }
  }, [p.value]);
  return (
    <input
      value={text}
      disabled={p.disabled}
      placeholder={p.placeholder}
      data-testid={p.testid}
      onChange={(e) => {
        const v = p.parse(e.target.value);
        sent.current = v;
        setText(e.target.value);
        p.onValue(v);
      }}
    />
  );
}
