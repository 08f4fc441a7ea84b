#!/usr/bin/env bash
# The peer comparison of issue 3 on the logs in ../shared/data: Amazon Beauty (leave-last-out,
# new items only), the Taobao head users and Diginetica (temporal, repeats allowed, item and
# category targets). Each run writes OUT/NAME.json (decayrec evaluate's shape), OUT/NAME.md (the
# printed table), OUT/NAME.png and OUT/NAME.log (progress).
#
# Usage:  bash benchmarks/peers/run_shared.sh [OUT_DIR] [RUN ...]
#   OUT_DIR  default .peers/runs; RUN: any of beauty taobao-item taobao-category
#            diginetica-item diginetica-category (default: all). Peers without their venv
#            (sar_env.sh, recbole_env.sh) or package are skipped, and the table says so.
# Runs one after another: on 2 cores, parallel runs would distort the fit and score times.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
data=${DECAYREC_SHARED_DATA:-$root/../shared/data}
out=${1:-$root/.peers/runs}
shift || true
runs=("$@")
[ ${#runs[@]} -eq 0 ] && runs=(beauty taobao-item taobao-category diginetica-item diginetica-category)
mkdir -p "$out"
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

run() {  # NAME, then python -m benchmarks.peers arguments
    local name=$1
    shift
    echo "== $name: $*"
    (cd "$root" && python -m benchmarks.peers "$@" --json "$out/$name.json" \
        --png "$out/$name.png" >"$out/$name.md" 2>"$out/$name.log")
    cat "$out/$name.md"
}

for name in "${runs[@]}"; do
    case $name in
    beauty)
        run beauty --data "$data/amazon_beauty_5core/interactions.csv" --format amazon \
            --protocol loo --target item --repeats exclude ;;
    taobao-item | taobao-category)
        run "$name" --data "$data/taobao_userbehavior/UserBehavior_head_users.csv" \
            --format taobao --protocol temporal --target "${name#taobao-}" --repeats allow ;;
    diginetica-item | diginetica-category)
        run "$name" --data "$data/diginetica" --format diginetica --protocol temporal \
            --target "${name#diginetica-}" --repeats allow ;;
    *) echo "unknown run $name" >&2; exit 2 ;;
    esac
done
