#!/usr/bin/env bash
# The Azure ML SDK v2 tests (tests/test_azureml.py) need azure-ai-ml, which pins OpenTelemetry
# packages older than Ray's dashboard wants: it gets a venv of its own, with this checkout in it.
# The tests run `python -m pipefile` with that venv's interpreter (PIPE_TEST_AZUREML_PYTHON).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${PIPE_AZUREML_VENV:-/opt/pipe-azureml}"
[ -x "$venv/bin/python" ] || python -m venv "$venv"
"$venv/bin/pip" install -q -e '.[azureml,examples]'
