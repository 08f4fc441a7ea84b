#!/usr/bin/env sh
# Create (or check) the virtual environment of the recbole-sasrec peer: RecBole 1.2.1 on torch
# 2.13.0 (CPU).
#
# Why a venv of its own: RecBole 1.2.1 needs numpy<2 (and pandas<3, setuptools<81: it calls
# APIs that later releases removed), and its declared dependencies pull in ray, plotly and the
# whole tensorboard server. decayrec's own dependencies are never weakened for a peer, so
# RecBole lives apart and benchmarks/peers/recbole_sasrec.py talks to it through files.
#
# Usage:  sh benchmarks/peers/recbole_env.sh [VENV_DIR]
#   VENV_DIR  default: $DECAYREC_RECBOLE_VENV, else .peers/recbole-venv under the repository root.
#   PYTHON    interpreter that creates the venv (default: python3.11, else python3).
# Idempotent: an existing venv that already imports RecBole's SASRec pipeline is left as it is.
# Afterwards point the adapter at it if it is not the default:
#   export DECAYREC_RECBOLE_PYTHON=VENV_DIR/bin/python
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${1:-${DECAYREC_RECBOLE_VENV:-$root/.peers/recbole-venv}}
python=${PYTHON:-$(command -v python3.11 || command -v python3)}

check='import importlib.metadata as m, numpy, pyarrow.parquet, torch
from recbole.config import Config
from recbole.data import create_dataset
from recbole.model.sequential_recommender.sasrec import SASRec
from recbole.trainer import Trainer
assert m.version("recbole") == "1.2.1", m.version("recbole")
assert torch.__version__.split("+")[0] == "2.13.0", torch.__version__
assert numpy.__version__ < "2", numpy.__version__'

if [ -x "$venv/bin/python" ] && "$venv/bin/python" -I -c "$check" 2>/dev/null; then
    echo "RecBole venv ready: $venv"
    exit 0
fi

"$python" -m venv "$venv"
# torch is pinned in the same command as everything that could ask for it, so pip never
# replaces the CPU wheel by another torch (a CUDA build is gigabytes). pyarrow<26: 26 needs
# numpy 2.
"$venv/bin/python" -m pip install --quiet "torch==2.13.0" "numpy<2" "pandas<3" \
    "setuptools<81" "pyarrow<26" scipy scikit-learn pyyaml tqdm texttable \
    "colorlog==4.7.2" "colorama==0.4.4" absl-py packaging "protobuf>=6.31.1,<8"
# --no-deps: measured with 1.2.1, training SASRec through RecBole's Config, create_dataset,
# data loaders and Trainer imports only the packages above, plus tensorboard's Python package
# (recbole.utils imports torch.utils.tensorboard at module level; its writer needs absl,
# packaging and protobuf, not grpcio, pillow, markdown, werkzeug or its data server). ray
# (recbole.quick_start only), plotly, thop, psutil and tabulate are never imported. pip then
# reports those declared dependencies as missing.
"$venv/bin/python" -m pip install --quiet --no-deps "recbole==1.2.1" "tensorboard==2.21.0"
"$venv/bin/python" -I -c "$check"
echo "RecBole venv ready: $venv"
