#!/usr/bin/env bash
# LibriSpeech speaker identification and verification: corpus -> database
# -> training -> evaluation (accuracy, EER, minDCF) -> exported model ->
# classified files. With no arguments every stage runs on the built-in toy
# LibriSpeech (synthetic voices) with a CPU-sized ResNet.
#
#   ./run.sh [--stage N] [--stop_stage M] [--librispeech_root DIR]
#            [--subsets "train-clean-100 train-clean-360 ..."]
#            [--model toy|resnet34] [--exp_dir DIR] [--tag NAME]
#            [--ngpu N] [--nnodes M --node_rank R --master_addr HOST]
#            [--master_port P] [--rdzv_timeout S]
#            [key=value ...]          # any config entry, e.g. trainer.optimizer.lr=5e-4
#
# Stages: 0 prepare, 1 train, 2 evaluate, 3 export, 4 classify.
# --librispeech_root: the folder holding LibriSpeech/ (or LibriSpeech/
# itself); --subsets: the subsets whose speakers are classified (any
# combination, space-separated; each speaker's utterances are split
# 80/10/10 into train/validation/test). Several processes (torchrun):
# --ngpu N processes per machine, --nnodes M machines, as in
# recipes/wsj0_2mix/run.sh; batch_size is the global batch size.
set -euo pipefail

librispeech_root=    # this recipe's options (--name value) and their defaults
subsets=train-clean-100
model=toy
recipe=librispeech
recipe_options=(librispeech_root subsets model)
source "$(dirname "$0")/../launcher.sh" "$@"  # and the common options

case "$model" in toy|resnet34) ;; *) fail "--model must be toy or resnet34, got '$model'" ;; esac
read -r -a subset_list <<< "$subsets"
[ "${#subset_list[@]}" -gt 0 ] || fail "--subsets must name at least one subset, e.g. --subsets train-clean-100"
subset_config=
for subset in "${subset_list[@]}"; do
  [[ "$subset" =~ ^[A-Za-z0-9._-]+$ ]] || fail "--subsets: '$subset' is no subset name (e.g. train-clean-100)"
  subset_config+="${subset_config:+,}'$subset'"
done

config=("$model" "subsets=[$subset_config]")
if [ -n "$librispeech_root" ]; then
  [ -d "$librispeech_root" ] || fail "--librispeech_root $librispeech_root is not a folder"
  config+=("librispeech_root=$(cd "$librispeech_root" && pwd)")
fi

run_stages "0 prepare" "1 train all_ranks" "2 evaluate local_ranks" "3 export" "4 classify"
