"""What a `type: parallel` node runs (docs/azureml.md), as `python -c` in the node's own
environment (so it imports nothing of pipe): it splits the input data into mini-batches,
calls the entry script's init() once, run(mini_batch) per mini-batch (retried, with the
error threshold), shutdown() if it has one, and appends what run() returns to the output.

argv: SETTINGS_JSON DATA_PATH OUTPUT_PATH|- -- PROGRAM_ARGUMENTS...
A mini-batch is a list of file paths, or a pandas DataFrame for tabular MLTable data.
"""

import glob
import importlib.util
import json
import os
import re
import signal
import sys
import traceback


def _files(path):
    if os.path.isfile(path):
        return [path]
    out = []
    for folder, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out += [os.path.join(folder, n) for n in sorted(names) if not n.startswith(".")]
    return out


def _mltable(folder):
    """(files, readers): the paths an MLTable file lists, and how to read them as a table."""
    try:
        import yaml
    except ImportError:
        sys.exit("reading an MLTable file needs PyYAML in the node's environment: add pyyaml to it")
    with open(os.path.join(folder, "MLTable"), encoding="utf-8") as f:
        table = yaml.safe_load(f) or {}
    files: list = []
    for entry in table.get("paths") or []:
        for kind in ("file", "folder", "pattern"):
            if kind in entry:
                where = os.path.join(folder, re.sub(r"^file://", "", str(entry[kind])))
                files += sorted(glob.glob(where, recursive=True)) if kind == "pattern" else _files(where)
    readers = [t for t in table.get("transformations") or [] if isinstance(t, dict)]
    readers = [t for t in readers if set(t) & {"read_delimited", "read_parquet", "read_json_lines"}]
    return files, readers[0] if readers else None


def _table(files, reader):
    import pandas as pd

    kind, opts = next(iter(reader.items()))
    opts = opts or {}
    frames = []
    for f in files:
        if kind == "read_delimited":
            header = None if opts.get("header") == "no_header" else 0
            frames.append(pd.read_csv(f, sep=opts.get("delimiter", ","), header=header))
        elif kind == "read_parquet":
            frames.append(pd.read_parquet(f))
        else:
            frames.append(pd.read_json(f, lines=True))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _bytes(text):
    m = re.fullmatch(r"\s*(\d+)\s*([kmg]?)b?\s*", str(text).lower())
    if not m:
        sys.exit(f"mini_batch_size {text!r} is not a size such as 10kb, 1mb or 100")
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[m.group(2)]


def _batches(cfg, data):
    size = cfg.get("mini_batch_size")
    files, reader = _mltable(data) if cfg["kind"] == "mltable" else (_files(data), None)
    if reader is None:
        text = str(size or 10).strip()
        if text.isascii() and text.isdigit():
            n = int(size or 10)
            return [files[i : i + n] for i in range(0, len(files), n)]
        # An MLTable of files, split by a size (10kb): files in order, a batch closed once it holds that much.
        limit, batches, batch, held = _bytes(size), [], [], 0
        for f in files:
            batch.append(f)
            held += os.path.getsize(f)
            if held >= limit:
                batches.append(batch)
                batch, held = [], 0
        return batches + ([batch] if batch else [])
    df = _table(files, reader)
    total = sum(os.path.getsize(f) for f in files) or 1
    rows = max(1, int(len(df) * _bytes(size or "1mb") / total))
    return [df.iloc[i : i + rows] for i in range(0, len(df), rows)]


def _timeout(signum, frame):
    raise TimeoutError("run() took longer than retry_settings.timeout")


def main():
    cfg, data, out = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
    rest = sys.argv[4:]
    sys.argv = [cfg["entry"]] + (rest[1:] if rest[:1] == ["--"] else rest)  # as the entry script sees it
    sys.path.insert(0, os.getcwd())
    spec = importlib.util.spec_from_file_location("entry_script", os.path.join(os.getcwd(), cfg["entry"]))
    if spec is None or spec.loader is None:
        raise SystemExit(f"prs_driver: cannot load the entry script {cfg['entry']}")
    entry = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(entry)
    batches = _batches(cfg, data)
    if hasattr(entry, "init"):
        entry.init()
    rows, failed = [], 0
    threshold, retries, limit = cfg["error_threshold"], cfg["max_retries"], cfg["timeout"]
    signal.signal(signal.SIGALRM, _timeout)
    for i, batch in enumerate(batches):
        for attempt in range(retries + 1):
            try:
                signal.alarm(limit)
                result = entry.run(batch)
                signal.alarm(0)
                break
            except Exception:
                signal.alarm(0)
                print(f"mini-batch {i + 1}/{len(batches)}, try {attempt + 1}/{retries + 1} failed:", file=sys.stderr)
                traceback.print_exc()
        else:
            failed += 1
            if 0 <= threshold < failed:
                sys.exit(f"{failed} mini-batches failed, more than mini_batch_error_threshold ({threshold})")
            continue
        if hasattr(result, "to_csv"):  # a DataFrame: its rows, space-separated, as Azure appends them
            text = result.to_csv(sep=" ", header=False, index=False)
            rows += text.splitlines()
        else:
            rows += [str(r) for r in result or []]
    if hasattr(entry, "shutdown"):
        entry.shutdown()
    if out != "-":
        path = os.path.join(out, "parallel_run_step.txt") if os.path.isdir(out) else out
        with open(path, "w", encoding="utf-8") as f:
            f.write("".join(r + "\n" for r in rows))
    print(f"{len(batches)} mini-batches: {len(batches) - failed} succeeded, {failed} failed; {len(rows)} rows")


if __name__ == "__main__":  # (python -c runs it as __main__)
    main()
