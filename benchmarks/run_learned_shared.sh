#!/usr/bin/env bash
# The learned-versus-tuned comparison of issue 4 on the logs in ../shared/data: Amazon Beauty
# (leave-last-out), the Taobao head users and Diginetica (temporal), all with repeats allowed,
# item and category targets (Beauty has no categories). Per case:
#   1. `decayrec tune` searches decayed-profile and decayed-itemknn (those of them MODELS names)
#      on the validation part only (OUT/NAME.tuned.json, OUT/NAME.tune.log);
#   2. `decayrec evaluate --tuned` scores learned-decay beside the two tuned models, each with
#      its -no-decay variant, once on test (OUT/NAME.json, OUT/NAME.md, OUT/NAME.log).
# Per data set, `decayrec fit --model learned-decay` on the whole log (with the similarity and
# popularity settings evaluate picked for DATA-item when OUT/DATA-item.json exists) and
# `decayrec report decay` write what was learned (OUT/DATA.decay.md, OUT/DATA.decay.png).
#
# Usage:  bash benchmarks/run_learned_shared.sh [OUT_DIR] [RUN ...]
#   OUT_DIR  default .runs/learned; RUN: any of beauty-item taobao-item taobao-category
#            diginetica-item diginetica-category beauty-decay taobao-decay diginetica-decay
#            (default: all). TRIALS (default 30) and TUNE_TIMEOUT (seconds per model, default
#            600) set the tuning budget; SEEDS (default 1) how many training seeds evaluate
#            refits learned-decay with (it reports their mean and each seed's value).
# FOLDS (default 1): with more, each temporal case is also evaluated at FOLDS successive cutoffs
# (`decayrec evaluate --folds FOLDS --trials TRIALS`: rolling origin, the fixed models tuned by
# Optuna on each fold's validation window, the folds pooled with intervals clustered by user;
# OUT/NAME.folds.json, OUT/NAME.folds.md), after the one-split comparison.
# MODELS (default learned-decay,decayed-profile,decayed-itemknn) sets what evaluate scores; issue 6's
# tables add the transformer: MODELS=time-aware-transformer,learned-decay,decayed-itemknn (evaluate
# then adds its -no-time and -no-hybrid ablations). Needs the torch and tune extras. Runs one after another: on 2 cores, parallel runs would
# distort the fit times.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=${DECAYREC_SHARED_DATA:-$root/../shared/data}
out=${1:-$root/.runs/learned}
shift || true
runs=("$@")
[ ${#runs[@]} -eq 0 ] && runs=(beauty-item taobao-item taobao-category diginetica-item
    diginetica-category beauty-decay taobao-decay diginetica-decay)
trials=${TRIALS:-30}
timeout=${TUNE_TIMEOUT:-600}
seeds=${SEEDS:-1}
folds=${FOLDS:-1}
models=${MODELS:-learned-decay,decayed-profile,decayed-itemknn}
mkdir -p "$out"
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

source_of() {  # DATA -> the --data/--format arguments of that data set
    case $1 in
    beauty) echo "--data $data/amazon_beauty_5core/interactions.csv --format amazon" ;;
    taobao) echo "--data $data/taobao_userbehavior/UserBehavior_head_users.csv --format taobao" ;;
    diginetica) echo "--data $data/diginetica --format diginetica" ;;
    *) echo "unknown data set $1" >&2; exit 2 ;;
    esac
}

compare() {  # NAME=DATA-TARGET: tune the fixed models, then evaluate them beside learned-decay
    local name=$1 set=${1%-*} target=${1##*-} protocol=temporal
    [ "$set" = beauty ] && protocol=loo
    # shellcheck disable=SC2046  # source_of prints separate arguments on purpose
    local case_args=($(source_of "$set") --protocol "$protocol" --target "$target" --repeats allow)
    echo "== $name: ${case_args[*]}"
    local tune_args=() tuned_args=()
    for model in decayed-profile decayed-itemknn; do
        [[ ",$models," == *",$model,"* ]] && tune_args+=(--model "$model")
    done
    if [ ${#tune_args[@]} -gt 0 ]; then  # only the fixed models evaluate scores are tuned
        (cd "$root" && decayrec tune "${case_args[@]}" "${tune_args[@]}" --trials "$trials" \
            --timeout "$timeout" --json "$out/$name.tuned.json" >"$out/$name.tune.log" 2>&1)
        tuned_args=(--tuned "$out/$name.tuned.json")
    fi
    (cd "$root" && decayrec evaluate "${case_args[@]}" "${tuned_args[@]}" \
        --models "$models" --seeds "$seeds" --json "$out/$name.json" \
        >"$out/$name.md" 2>"$out/$name.log")
    cat "$out/$name.md"
    if [ "$folds" -gt 1 ] && [ "$protocol" = temporal ]; then
        (cd "$root" && decayrec evaluate "${case_args[@]}" --folds "$folds" --trials "$trials" \
            --models "$models" --seeds "$seeds" --json "$out/$name.folds.json" \
            >"$out/$name.folds.md" 2>"$out/$name.folds.log")
        cat "$out/$name.folds.md"
    fi
}

learned() {  # NAME=DATA-decay: fit learned-decay on the whole log and report its parameters
    local set=${1%-decay} params='{}' picked="$out/${1%-decay}-item.json"
    # The similarity settings evaluate picked on validation for the item case, if it ran.
    if [ -f "$picked" ]; then
        params=$(python - "$picked" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
chosen = next(r["params"] for r in results if r["model"] == "learned-decay")
keys = ("similarity", "normalise_similarity", "sequence_window", "sequence_step_decay",
        "sequence_backward_weight",
        "recent_popularity_share", "ordering_scale", "newcomer_after")
print(json.dumps({key: chosen[key] for key in keys if key in chosen}))
PY
        )
    fi
    echo "== $1 (learned-decay $params)"
    # shellcheck disable=SC2046
    (cd "$root" && decayrec fit $(source_of "$set") --model learned-decay --params "$params" \
        --out "$out/$set.learned" >"$out/$set.fit.log" 2>&1)
    (cd "$root" && decayrec report decay --model "$out/$set.learned" \
        --png "$out/$set.decay.png" >"$out/$set.decay.md" 2>&1)
    cat "$out/$set.decay.md"
}

for name in "${runs[@]}"; do
    case $name in
    beauty-item | taobao-item | taobao-category | diginetica-item | diginetica-category)
        compare "$name" ;;
    beauty-decay | taobao-decay | diginetica-decay) learned "$name" ;;
    *) echo "unknown run $name" >&2; exit 2 ;;
    esac
done
