#!/usr/bin/env bash
# WSJ0-2mix source separation: corpus -> database -> training -> evaluation
# -> exported model -> separated files. With no arguments every stage runs
# on the built-in toy corpus (synthetic voices) with a CPU-sized DPRNN.
#
#   ./run.sh [--stage N] [--stop_stage M] [--wsj0_2mix_root DIR]
#            [--sample_rate 8k|16k] [--mode min|max] [--num_speakers 2|3]
#            [--exp_dir DIR] [--tag NAME] [--model toy|dprnn|dprnn_window2|convtasnet|pit_blstm]
#            [key=value ...]          # any config entry, e.g. trainer.optimizer.lr=5e-4
#
# Stages: 0 prepare, 1 train, 2 evaluate, 3 export, 4 separate.
set -euo pipefail

stage=0
stop_stage=4
wsj0_2mix_root=
sample_rate=8k
mode=min
num_speakers=2
exp_dir=
tag=
model=toy
overrides=()

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --stage) stage=$2; shift 2 ;;
    --stop_stage) stop_stage=$2; shift 2 ;;
    --wsj0_2mix_root) wsj0_2mix_root=$2; shift 2 ;;
    --sample_rate) sample_rate=$2; shift 2 ;;
    --mode) mode=$2; shift 2 ;;
    --num_speakers) num_speakers=$2; shift 2 ;;
    --exp_dir) exp_dir=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --*) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *=*) overrides+=("$1"); shift ;;
    *) echo "run.sh: unexpected argument $1 (options are --name value, overrides key=value)" >&2; exit 2 ;;
  esac
done

case "$sample_rate" in 8k|16k) ;; *) echo "run.sh: --sample_rate must be 8k or 16k" >&2; exit 2 ;; esac
case "$mode" in min|max) ;; *) echo "run.sh: --mode must be min or max" >&2; exit 2 ;; esac
case "$num_speakers" in 2|3) ;; *) echo "run.sh: --num_speakers must be 2 or 3" >&2; exit 2 ;; esac

cd "$(dirname "$0")/../.."   # the repository root: python -m recipes.wsj0_2mix
python=${PYTHON:-python}

config=("sample_rate=$sample_rate" "mode=$mode" "num_speakers=$num_speakers")
if [ -n "$wsj0_2mix_root" ]; then
  config+=("wsj0_2mix_root=$(cd "$wsj0_2mix_root" && pwd)")
fi
[ -n "$tag" ] && config+=("tag=$tag")
[ -n "$exp_dir" ] && config+=("exp_dir=$(mkdir -p "$exp_dir" && cd "$exp_dir" && pwd)")
config+=(${overrides[@]+"${overrides[@]}"})

run() {  # run <stage> <command>
  if [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; then
    echo "== stage $1: $2 =="
    "$python" -m recipes.wsj0_2mix "$2" with "$model" "${config[@]}"
  fi
}

run 0 prepare
run 1 train
run 2 evaluate
run 3 export
run 4 separate
