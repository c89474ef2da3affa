#!/usr/bin/env bash
# WaveNet vocoder: corpus -> database -> training (log-mel -> waveform) ->
# evaluation (resynthesis vs Griffin-Lim) -> exported model -> synthesized
# files. With no arguments every stage runs on the built-in toy LibriSpeech
# (synthetic voices) with a CPU-sized WaveNet.
#
#   ./run.sh [--stage N] [--stop_stage M]
#            [--librispeech_root DIR [--subsets "train-clean-100 ..."] |
#             --wav_dir DIR]
#            [--model toy|paper] [--exp_dir DIR] [--tag NAME]
#            [--ngpu N] [--nnodes M --node_rank R --master_addr HOST]
#            [--master_port P] [--rdzv_timeout S]
#            [key=value ...]          # any config entry, e.g. trainer.optimizer.lr=5e-4
#
# Stages: 0 prepare, 1 train, 2 evaluate, 3 export, 4 synthesize.
# --librispeech_root: the folder holding LibriSpeech/ (or LibriSpeech/
# itself); --subsets: the training subsets (space-separated; validation on
# dev-clean, test on test-clean). --wav_dir: any folder tree of .wav/.flac
# files (e.g. LJSpeech-1.1/), split 90/5/5 by a hash of the file names.
# Files at other rates are resampled to the model's 16 kHz while loading.
# Several processes (torchrun): --ngpu N per machine, --nnodes M machines;
# batch_size is the global batch size.
set -euo pipefail

librispeech_root=    # this recipe's options (--name value) and their defaults
subsets=train-clean-100
wav_dir=
model=toy
recipe=vocoder
recipe_options=(librispeech_root subsets wav_dir model)
source "$(dirname "$0")/../launcher.sh" "$@"  # and the common options

case "$model" in toy|paper) ;; *) fail "--model must be toy or paper, got '$model'" ;; esac
if [ -n "$librispeech_root" ] && [ -n "$wav_dir" ]; then
  fail "give --librispeech_root or --wav_dir, not both"
fi
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
if [ -n "$wav_dir" ]; then
  [ -d "$wav_dir" ] || fail "--wav_dir $wav_dir is not a folder"
  config+=("wav_dir=$(cd "$wav_dir" && pwd)")
fi

run_stages "0 prepare" "1 train all_ranks" "2 evaluate local_ranks" "3 export" "4 synthesize"
