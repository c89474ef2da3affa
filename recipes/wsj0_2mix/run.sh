#!/usr/bin/env bash
# WSJ0-2mix source separation: corpus -> database -> training -> evaluation
# -> exported model -> separated files. With no arguments every stage runs
# on the built-in toy corpus (synthetic voices) with a CPU-sized DPRNN.
#
#   ./run.sh [--stage N] [--stop_stage M] [--wsj0_2mix_root DIR]
#            [--sample_rate 8k|16k] [--mode min|max] [--num_speakers 2|3]
#            [--exp_dir DIR] [--tag NAME] [--model toy|dprnn|dprnn_window2|convtasnet|pit_blstm]
#            [--ngpu N] [--nnodes M --node_rank R --master_addr HOST]
#            [--master_port P] [--rdzv_timeout S]
#            [key=value ...]          # any config entry, e.g. trainer.optimizer.lr=5e-4
#
# Stages: 0 prepare, 1 train, 2 evaluate, 3 export, 4 separate.
# Several processes (torchrun): --ngpu N processes per machine (one per GPU;
# on a CPU-only machine N CPU processes), --nnodes M machines (default 1),
# this one --node_rank R (0..M-1); --master_addr HOST (node 0's address,
# needed when M > 1) and --master_port P (default 29500) are where they meet,
# waiting at most --rdzv_timeout S seconds (default 300) for each other.
# batch_size is the global batch size (all processes together). Stage 1
# runs on all machines; stage 2 shares the utterances over node 0's --ngpu
# processes; stages 0, 2, 3 and 4 run on node 0 only.
set -euo pipefail

wsj0_2mix_root=    # this recipe's options (--name value) and their defaults
sample_rate=8k
mode=min
num_speakers=2
model=toy
recipe=wsj0_2mix
recipe_options=(wsj0_2mix_root sample_rate mode num_speakers model)
source "$(dirname "$0")/../launcher.sh" "$@"  # and the common options

case "$sample_rate" in 8k|16k) ;; *) fail "--sample_rate must be 8k or 16k" ;; esac
case "$mode" in min|max) ;; *) fail "--mode must be min or max" ;; esac
case "$num_speakers" in 2|3) ;; *) fail "--num_speakers must be 2 or 3" ;; esac

config=("$model" "sample_rate=$sample_rate" "mode=$mode" "num_speakers=$num_speakers")
if [ -n "$wsj0_2mix_root" ]; then
  [ -d "$wsj0_2mix_root" ] || fail "--wsj0_2mix_root $wsj0_2mix_root is not a folder"
  config+=("wsj0_2mix_root=$(cd "$wsj0_2mix_root" && pwd)")
fi

run_stages "0 prepare" "1 train all_ranks" "2 evaluate local_ranks" "3 export" "4 separate"
