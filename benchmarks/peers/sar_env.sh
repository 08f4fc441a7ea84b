#!/usr/bin/env sh
# Create (or check) the virtual environment of the SAR peer: Microsoft recommenders 1.2.1.
#
# Why a venv of its own: recommenders 1.2.1 needs numpy<2, and its declared dependencies pull
# in dozens of packages SAR never imports. decayrec's own dependencies are never weakened for a
# peer, so SAR lives apart and benchmarks/peers/sar.py talks to it through Parquet files.
#
# Usage:  sh benchmarks/peers/sar_env.sh [VENV_DIR]
#   VENV_DIR  default: $DECAYREC_SAR_VENV, else .peers/sar-venv under the repository root.
#   PYTHON    interpreter that creates the venv (default: python3.11, else python3).
# Idempotent: an existing venv that already imports SAR is left as it is.
# Afterwards point the adapter at it if it is not the default:
#   export DECAYREC_SAR_PYTHON=VENV_DIR/bin/python
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${1:-${DECAYREC_SAR_VENV:-$root/.peers/sar-venv}}
python=${PYTHON:-$(command -v python3.11 || command -v python3)}

check='import importlib.metadata as m, numpy, pandas, scipy
from recommenders.models.sar import SAR
assert m.version("recommenders") == "1.2.1", m.version("recommenders")
assert numpy.__version__ < "2", numpy.__version__
import pyarrow'

if [ -x "$venv/bin/python" ] && "$venv/bin/python" -I -c "$check" 2>/dev/null; then
    echo "SAR venv ready: $venv"
    exit 0
fi

"$python" -m venv "$venv"
# --no-deps: SAR itself needs only numpy, pandas and scipy (measured with 1.2.1). pip then
# reports recommenders' other declared dependencies as missing; SAR never imports them.
"$venv/bin/python" -m pip install --quiet --no-deps "recommenders==1.2.1"
# pyarrow: the adapter exchanges Parquet files with the worker (pyarrow 23+ needs numpy 2).
"$venv/bin/python" -m pip install --quiet "numpy<2" "pandas>2,<3" scipy "pyarrow>=15,<23"
"$venv/bin/python" -I -c "$check"
echo "SAR venv ready: $venv"
