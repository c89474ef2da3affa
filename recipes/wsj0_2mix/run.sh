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

stage=0
stop_stage=4
wsj0_2mix_root=
sample_rate=8k
mode=min
num_speakers=2
exp_dir=
tag=
model=toy
ngpu=1
nnodes=1
node_rank=0
master_addr=
master_port=29500
master_port_given=0
rdzv_timeout=300
overrides=()

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; }
fail() { echo "run.sh: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --stage|--stop_stage|--wsj0_2mix_root|--sample_rate|--mode|--num_speakers|\
    --exp_dir|--tag|--model|--ngpu|--nnodes|--node_rank|--master_addr|\
    --master_port|--rdzv_timeout)
      [ $# -ge 2 ] || fail "$1 needs a value"
      [ "$1" = --master_port ] && master_port_given=1
      printf -v "${1#--}" '%s' "$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --*) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *=*) overrides+=("$1"); shift ;;
    *) fail "unexpected argument $1 (options are --name value, overrides key=value)" ;;
  esac
done

natural() {  # natural <option> <value> <minimum 0|1>
  local expected="a positive integer"
  [ "$3" = 0 ] && expected="a non-negative integer"
  case "$2" in
    ''|*[!0-9]*) fail "$1 must be $expected, got '$2'" ;;
  esac
  [ "$((10#$2))" -ge "$3" ] || fail "$1 must be $expected, got '$2'"
}
natural --stage "$stage" 0
natural --stop_stage "$stop_stage" 0
natural --ngpu "$ngpu" 1
natural --nnodes "$nnodes" 1
natural --node_rank "$node_rank" 0
natural --master_port "$master_port" 1
natural --rdzv_timeout "$rdzv_timeout" 1
stage=$((10#$stage)) stop_stage=$((10#$stop_stage)) ngpu=$((10#$ngpu))
nnodes=$((10#$nnodes)) node_rank=$((10#$node_rank))
master_port=$((10#$master_port)) rdzv_timeout=$((10#$rdzv_timeout))
[ "$master_port" -le 65535 ] || fail "--master_port must be a port number (1..65535), got $master_port"
[ "$node_rank" -lt "$nnodes" ] || fail "--node_rank must be in 0..$((nnodes - 1)) (--nnodes $nnodes), got $node_rank"
if [ "$nnodes" -gt 1 ] && [ -z "$master_addr" ]; then
  fail "--nnodes $nnodes needs --master_addr HOST: the address of node 0 (--node_rank 0), where the machines meet (port --master_port, default 29500)"
fi

case "$sample_rate" in 8k|16k) ;; *) fail "--sample_rate must be 8k or 16k" ;; esac
case "$mode" in min|max) ;; *) fail "--mode must be min or max" ;; esac
case "$num_speakers" in 2|3) ;; *) fail "--num_speakers must be 2 or 3" ;; esac

absolute() { case "$1" in /*) printf '%s' "$1" ;; *) printf '%s/%s' "$PWD" "$1" ;; esac; }
config=("sample_rate=$sample_rate" "mode=$mode" "num_speakers=$num_speakers")
if [ -n "$wsj0_2mix_root" ]; then
  [ -d "$wsj0_2mix_root" ] || fail "--wsj0_2mix_root $wsj0_2mix_root is not a folder"
  config+=("wsj0_2mix_root=$(cd "$wsj0_2mix_root" && pwd)")
fi
[ -n "$tag" ] && config+=("tag=$tag")
# Not created here: a training that fails its checks leaves nothing behind.
[ -n "$exp_dir" ] && config+=("exp_dir=$(absolute "$exp_dir")")
config+=(${overrides[@]+"${overrides[@]}"})

cd "$(dirname "$0")/../.."   # the repository root: python -m recipes.wsj0_2mix
python=${PYTHON:-python}

if [ "$ngpu" -gt 1 ]; then  # one process per GPU (CPU processes without GPUs)
  gpus=$("$python" -c 'import torch; print(torch.cuda.device_count())' 2>/dev/null) || gpus=0
  case "$gpus" in ''|*[!0-9]*) gpus=0 ;; esac
  if [ "$gpus" -gt 0 ] && [ "$ngpu" -gt "$gpus" ]; then
    fail "--ngpu $ngpu, but this machine has $gpus GPU(s) (CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES-unset}): at most --ngpu $gpus"
  fi
fi

# torchrun for stage 1: all processes of all machines.
train_launcher=()
if [ "$ngpu" -gt 1 ] || [ "$nnodes" -gt 1 ]; then
  train_launcher=("$python" -m torch.distributed.run --nproc_per_node "$ngpu"
                  --nnodes "$nnodes" --node_rank "$node_rank" --max_restarts 0
                  --rdzv_conf "join_timeout=$rdzv_timeout")
  if [ -n "$master_addr" ]; then
    train_launcher+=(--rdzv_backend c10d --rdzv_endpoint "$master_addr:$master_port")
  elif [ "$master_port_given" = 1 ]; then
    train_launcher+=(--rdzv_backend c10d --rdzv_endpoint "127.0.0.1:$master_port")
  else  # one machine: torchrun picks a free local port
    train_launcher+=(--standalone)
  fi
fi
# torchrun for stage 2: this machine's processes (node 0 only).
evaluate_launcher=()
if [ "$ngpu" -gt 1 ]; then
  evaluate_launcher=("$python" -m torch.distributed.run --nproc_per_node "$ngpu"
                     --standalone --max_restarts 0)
fi

run() {  # run <stage> <command>
  if [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; then
    if [ "$1" != 1 ] && [ "$node_rank" != 0 ]; then
      echo "== stage $1: $2 runs on node 0 only =="
      return
    fi
    local launcher=("$python")
    if [ "$1" = 1 ] && [ ${#train_launcher[@]} -gt 0 ]; then
      launcher=("${train_launcher[@]}")
    elif [ "$1" = 2 ] && [ ${#evaluate_launcher[@]} -gt 0 ]; then
      launcher=("${evaluate_launcher[@]}")
    fi
    echo "== stage $1: $2 =="
    local status=0
    "${launcher[@]}" -m recipes.wsj0_2mix "$2" with "$model" "${config[@]}" || status=$?
    if [ "$status" != 0 ]; then
      echo "run.sh: stage $1 ($2) failed with exit status $status (the error is above)" >&2
      if [ "$1" = 1 ] && [ "$nnodes" -gt 1 ]; then
        echo "run.sh: with --nnodes $nnodes a failed rank on any machine ends the job; a RendezvousTimeoutError means that not all machines joined at --master_addr $master_addr --master_port $master_port within --rdzv_timeout $rdzv_timeout s" >&2
      fi
      exit "$status"
    fi
  fi
}

run 0 prepare
run 1 train
run 2 evaluate
run 3 export
run 4 separate
