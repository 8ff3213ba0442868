#!/usr/bin/env bash
# One entry point for newcomers and CI.
#   ./pipeline.sh run  [snakemake args...]  set up the environment if needed, run the main job
#                                           on the built-in synthetic dataset
#   ./pipeline.sh test [pytest args...]     set up the environment if needed, run the tests
#   ./pipeline.sh env                       set up the environment only and print its path
#
# The virtual environment lives outside the clone, keyed on a hash of the requirement files,
# so a second run (or CI on the same machine) reuses it and only a change of pins rebuilds it.
# FAMNET_VENV overrides its location; PYTHON picks the interpreter (Python 3.11).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$repo"

python_bin="${PYTHON:-python3.11}"
command -v "$python_bin" >/dev/null 2>&1 || python_bin=python3
if ! "$python_bin" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "pipeline.sh: Python 3.11 is required (found $("$python_bin" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 2
fi

req_hash="$(cat requirements.txt requirements.lock requirements-nodeps.txt scripts/install_env.sh | sha256sum | cut -c1-16)"
venv="${FAMNET_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/famnet/venv-$req_hash}"

ensure_env() {
  mkdir -p "$(dirname "$venv")"
  # flock serialises two clones building the same environment at once.
  exec 9>"$venv.lock"
  flock 9
  if [ ! -f "$venv/.famnet-complete" ]; then
    echo ">> building the environment in $venv (first run only, about 4 minutes)" >&2
    rm -rf "$venv"
    bash scripts/install_env.sh "$python_bin" "$venv"
    touch "$venv/.famnet-complete"
  fi
  # Point the (possibly shared) environment at this clone; skipped when it already does.
  # Checked from / so that the clone's own folder on sys.path cannot answer for the install.
  local check='import pathlib, sys
import famnet, preprocess
here = pathlib.Path(sys.argv[1]).resolve()
sys.exit(0 if all(pathlib.Path(m.__file__).resolve().parent.parent == here for m in (famnet, preprocess)) else 1)'
  if ! (cd / && "$venv/bin/python" -c "$check" "$repo" 2>/dev/null); then
    "$venv/bin/pip" install -q --disable-pip-version-check --no-deps --no-build-isolation -e "$repo" \
      2> >(grep -v "is ignored: it is neither a file nor a directory" >&2) >&2
  fi
  flock -u 9
}

cmd="${1:-run}"
[ $# -gt 0 ] && shift
ensure_env
export PATH="$venv/bin:$PATH" DVC_NO_ANALYTICS=1 PYTHONUNBUFFERED=1

case "$cmd" in
  env)
    echo "$venv"
    ;;
  run)
    # The main job: the whole workflow to results/tables/all.csv, on the synthetic datasets, then
    # Snakemake's report of it (table, figures, protocol counts, QC montages) in one HTML file.
    snakemake --cores "${FAMNET_CORES:-all}" --printshellcmds all "$@"
    case " $* " in
      *" -n "*|*" --dry-run "*|*" --dryrun "*) exit 0 ;;   # nothing was built: no report
    esac
    snakemake --report results/report.html "$@"
    echo "pipeline.sh: results table results/tables/all.md (all.csv); report results/report.html (open it in a browser)"
    ;;
  test)
    set +e
    python -m pytest "$@"
    rc=$?
    set -e
    # pytest exits 5 when it collected no test: that is a failure here, never a pass.
    if [ "$rc" -eq 5 ]; then echo "pipeline.sh: pytest ran no test" >&2; exit 1; fi
    exit "$rc"
    ;;
  *)
    echo "usage: ./pipeline.sh run|test|env [args...]" >&2
    exit 2
    ;;
esac
