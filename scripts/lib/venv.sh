#!/usr/bin/env bash
# Creates (once) a Python venv with pinned-enough packages under the coffer cache and prints its
# python path. Idempotent: a marker file records what was installed.
#   scripts/lib/venv.sh NAME PACKAGE...
set -euo pipefail
name="$1"; shift
cache="${COFFER_CACHE:-$HOME/.cache/coffer}"
dir="$cache/venvs/$name"
marker="$dir/.coffer-installed"
want="$*"
if [ -f "$marker" ] && [ "$(cat "$marker")" = "$want" ] && [ -x "$dir/bin/python" ]; then
  echo "$dir/bin/python"
  exit 0
fi
python3 -m venv "$dir" >&2
"$dir/bin/pip" install --quiet --disable-pip-version-check "$@" >&2
echo "$want" > "$marker"
echo "$dir/bin/python"
