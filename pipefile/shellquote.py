"""Where a `${{ }}` sits in a shell command, and how its value is written there.

A value is always written so that the shell hands the command exactly the value, whatever
it holds (spaces, quotes, `$`, backticks, newlines):

- outside quotes it is shell-quoted (`shlex.quote`: `'a b'`), as it always was, so the
  rendered command (part of every step key) of such commands is unchanged;
- inside single quotes ('...${{params.x}}...') a `'` in it closes the quotes, adds `"'"`
  and opens them again; nothing else is special there;
- inside double quotes ("...${{params.x}}...") `\\`, `"`, `$` and backtick get a backslash.

So `echo "${{params.msg}}"` prints the value, not the value wrapped in quotes.

Reading the command is a small scan of the template's literal text, as `/bin/sh` reads it:
quotes, backslash escapes, comments, `$( )` and backticks (where quoting starts afresh, as
at the top: a value there is shell-quoted), and here-documents (their bodies are not shell
syntax: a value there is written as outside quotes, as before).
"""

from __future__ import annotations

import shlex

from . import lazyre

UNQUOTED = "unquoted"
SINGLE = "single"
DOUBLE = "double"
COMMENT = "comment"  # after a `#` that starts a comment: the value is text the shell skips

# A character that cannot occur in a command (the loader refuses NUL): it marks where each
# placeholder sits while the text around it is scanned.
MARK = "\0"
_WORD_END = " \t\n;&|()<>"


def write(value: str, context: str) -> str:
    """`value` written for `context` so that the shell reads exactly `value` back."""
    if context == SINGLE:
        return value.replace("'", "'\"'\"'")
    if context == DOUBLE:
        return "".join("\\" + c if c in '\\"$`' else c for c in value)
    if context == COMMENT:  # only a line break ends a comment: one in the value must not
        return value.replace("\r", " ").replace("\n", " ")
    return shlex.quote(value)


# What a word may hold unquoted: shlex's safe characters, and letters of any script (a
# non-ASCII folder name is one word to the shell).
_SAFE_WORD = lazyre.Pattern(r"[\w@%+=:,./-]*")


def write_path(value: str, context: str) -> str:
    """A path written for `context` only where the shell would not read it back as it is:
    a path of safe characters is left unchanged (so the commands, and the keys, of paths
    that never needed it do not change)."""
    if context == UNQUOTED and _SAFE_WORD.fullmatch(value):
        return value
    return write(value, context)


_PLAIN = lazyre.Pattern(r"[^'\"\\`#<\n]*")  # text without a quote, escape, comment or here-document


def contexts(text: str) -> list:
    """The context (UNQUOTED, SINGLE, DOUBLE or COMMENT) of each MARK in `text`, in order."""
    if _PLAIN.fullmatch(text) and "$(" not in text:
        return [UNQUOTED] * text.count(MARK)  # (most commands: nothing below changes the context)
    out: list = []
    stack = [UNQUOTED]  # UNQUOTED, SINGLE, DOUBLE, "$(", "(", "`"
    heredocs: list = []  # (delimiter, strip tabs) waiting for the end of the line
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        top = stack[-1]
        if c == MARK:
            out.append(top if top in (SINGLE, DOUBLE) else UNQUOTED)
        elif top == SINGLE:
            if c == "'":
                stack.pop()
        elif c == "\\":
            i += 1  # the next character is literal (in double quotes too, for \" \\ \$ \`)
        elif top == DOUBLE:
            if c == '"':
                stack.pop()
            elif c == "`":
                stack.append("`")
            elif text.startswith("$(", i):
                stack.append("$(")
                i += 1
        elif c == "'":
            stack.append(SINGLE)
        elif c == '"':
            stack.append(DOUBLE)
        elif c == "`":
            if top == "`":
                stack.pop()
            else:
                stack.append("`")
        elif text.startswith("$(", i):
            stack.append("$(")
            i += 1
        elif c == "(" and top in ("$(", "("):
            stack.append("(")
        elif c == ")" and top in ("$(", "("):
            stack.pop()
        elif c == "#" and (i == 0 or text[i - 1] in _WORD_END):
            end = text.find("\n", i)
            end = n if end < 0 else end
            out += [COMMENT] * text.count(MARK, i, end)  # a value in a comment still has its place
            i = end
            continue  # the newline is read as any other (a here-document may start after it)
        elif text.startswith("<<", i) and not text.startswith("<<<", i) and top != "(":  # not $((1<<2))
            i = _heredoc_operator(text, i + 2, heredocs)
            continue
        elif c == "\n" and heredocs and len(stack) == 1:
            i = _skip_bodies(text, i + 1, heredocs, out)
            heredocs = []
            continue
        i += 1
    return out


def _heredoc_operator(text: str, i: int, heredocs: list) -> int:
    """After `<<`: read `-` and the delimiter word (its quotes removed); where to go on."""
    strip = text.startswith("-", i)
    i += strip
    while i < len(text) and text[i] in " \t":
        i += 1
    word: list = []
    quote = ""
    while i < len(text):
        c = text[i]
        if quote:
            if c == quote:
                quote = ""
            else:
                word.append(c)
        elif c in "'\"":
            quote = c
        elif c == "\\" and i + 1 < len(text):
            i += 1
            word.append(text[i])
        elif c in _WORD_END:
            break
        else:
            word.append(c)
        i += 1
    if word:
        heredocs.append(("".join(word), strip))
    return i


def _skip_bodies(text: str, i: int, heredocs: list, out: list) -> int:
    """Skip the bodies of the pending here-documents, from the line at `i`; a value in one
    is written as outside quotes (the body is not shell syntax)."""
    for delimiter, strip in heredocs:
        while i < len(text):
            end = text.find("\n", i)
            end = len(text) if end < 0 else end
            line = text[i:end]
            i = end + 1
            if (line.lstrip("\t") if strip else line) == delimiter:
                break
            out.extend(UNQUOTED for _ in range(line.count(MARK)))
    return min(i, len(text))
