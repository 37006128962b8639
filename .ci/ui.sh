#!/usr/bin/env bash
# CI: the designer's front end (pipefile/ui/web). Chromium for the browser tests (Debian's:
# Playwright's own download is never used), the Vitest tests, and the shipped build
# (pipefile/ui/static, committed) checked against a fresh build of the source, twice (reproducible).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
if ! command -v npm >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "Node $(node --version) is too old for the front end's build (Vite needs Node 20 or later): install Node 20+" >&2
  exit 1
fi
cd pipefile/ui/web
npm ci --no-audit --no-fund
npm test
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
OUT_DIR="$out/static" npm run build
if ! diff -r "$out/static" ../static; then
  echo "pipefile/ui/static is not the build of pipefile/ui/web: run 'npm run build' in pipefile/ui/web and commit pipefile/ui/static" >&2
  exit 1
fi
OUT_DIR="$out/again" npm run build
if ! diff -r "$out/static" "$out/again"; then
  echo "two builds of pipefile/ui/web differ: the build is not reproducible (a timestamp, a random id or a path in the output?)" >&2
  exit 1
fi
