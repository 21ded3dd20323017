#!/usr/bin/env bash
# ksmith CI for this method, for any CI system: the same steps as .github/workflows/ksmith.yml.
#
#   KSMITH_SRC=path/to/ksmith-checkout ./ci.sh   # install ksmith from a checkout, then run the gate
#   ./ci.sh                                      # ksmith already installed
#   ./ci.sh --update-baseline                    # re-record ksmith-baseline.json, then commit it
#
# Any other argument goes to `ksmith ci` (e.g. --fail-on direct_acc:0.05, --allow-stale, --grid ...).
# Environment: PYTHON (default python3): the interpreter (of the virtual environment) to use;
# KSMITH_SRC: a ksmith checkout to install first (else the ksmith already installed is used).
# Exit status is that of `ksmith ci`: 0 pass, 1 regression / failure / stale baseline, 2 bad input.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"

# 1. Install ksmith (from a checkout) and this package: its entry point registers the method.
if [ -n "${KSMITH_SRC:-}" ]; then
  "$python" -m pip install -q -e "$KSMITH_SRC"
fi
"$python" -m pip install -q -e "$here"

# 2. Conformance suite, the grid the baseline was recorded on (here the smoke grid at k=30:
#    tiny-kg-small, leaf level, 30 interventions) and the regression gate against the committed
#    baseline, with a short summary at the end of the log.
cd "$here"
exec "$python" -m ksmith.cli ci --methods top-mlp-ft --baseline ksmith-baseline.json "$@"
