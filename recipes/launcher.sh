# The shared command line of the recipes' run.sh (sourced, not run).
#
# A recipe's run.sh sets its own options (variables holding their
# defaults), then sources this file with its arguments:
#
#   sample_rate=8k                       # --sample_rate VALUE
#   recipe=wsj0_2mix                     # python -m recipes.wsj0_2mix
#   recipe_options=(sample_rate)
#   source "$(dirname "$0")/../launcher.sh" "$@"
#
# This parses --stage/--stop_stage, --exp_dir, --tag, --ngpu, --nnodes,
# --node_rank, --master_addr, --master_port, --rdzv_timeout, -h/--help (the
# comment block at the top of run.sh), the recipe's options (--name value)
# and key=value config overrides, and checks the common ones. run.sh then
# checks its own options (with `fail MESSAGE`), puts its sacred arguments
# (named configs, key=value) into `config` and runs its stages:
#
#   config=("$model" "sample_rate=$sample_rate")
#   run_stages "0 prepare" "1 train all_ranks" "2 evaluate local_ranks" \
#              "3 export"
#
# Each stage is "N command [where]": `python -m recipes.<recipe> command
# with "${config[@]}" [tag=..] [exp_dir=..] [overrides]` runs when
# --stage <= N <= --stop_stage. where: all_ranks = torchrun over every
# process of every machine (--ngpu per machine, --nnodes machines);
# local_ranks = torchrun over node 0's --ngpu processes; none = one
# process on node 0. Stages other than all_ranks run on node 0 only.

stage=0
stop_stage=99  # all stages
exp_dir=
tag=
ngpu=1
nnodes=1
node_rank=0
master_addr=
master_port=29500
master_port_given=0
rdzv_timeout=300
overrides=()

usage() { awk 'NR == 1 {next} /^#/ {sub(/^# ?/, ""); print; next} {exit}' "$0"; }
fail() { echo "run.sh: $*" >&2; exit 2; }
absolute() { case "$1" in /*) printf '%s' "$1" ;; *) printf '%s/%s' "$PWD" "$1" ;; esac; }

_is_option() {
  local name
  for name in stage stop_stage exp_dir tag ngpu nnodes node_rank master_addr \
              master_port rdzv_timeout ${recipe_options[@]+"${recipe_options[@]}"}; do
    [ "$name" = "$1" ] && return 0
  done
  return 1
}

while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --*)
      if ! _is_option "${1#--}"; then
        echo "run.sh: unknown option $1" >&2; usage >&2; exit 2
      fi
      [ $# -ge 2 ] || fail "$1 needs a value"
      if [ "$1" = --master_port ]; then master_port_given=1; fi
      printf -v "${1#--}" '%s' "$2"; shift 2 ;;
    *=*) overrides+=("$1"); shift ;;
    *) fail "unexpected argument $1 (options are --name value, overrides key=value)" ;;
  esac
done

natural() {  # natural <option> <value> <minimum 0|1>
  local expected="a positive integer"
  if [ "$3" = 0 ]; then expected="a non-negative integer"; fi
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
# Not created here: a training that fails its checks leaves nothing behind.
if [ -n "$exp_dir" ]; then exp_dir=$(absolute "$exp_dir"); fi

_torchrun() {  # the torchrun command line of the stages that run on $1
  local python=$2
  if [ "$1" = all_ranks ] && { [ "$ngpu" -gt 1 ] || [ "$nnodes" -gt 1 ]; }; then
    printf '%s\n' "$python" -m torch.distributed.run --nproc_per_node "$ngpu" \
      --nnodes "$nnodes" --node_rank "$node_rank" --max_restarts 0 \
      --rdzv_conf "join_timeout=$rdzv_timeout"
    if [ -n "$master_addr" ]; then
      printf '%s\n' --rdzv_backend c10d --rdzv_endpoint "$master_addr:$master_port"
    elif [ "$master_port_given" = 1 ]; then
      printf '%s\n' --rdzv_backend c10d --rdzv_endpoint "127.0.0.1:$master_port"
    else  # one machine: torchrun picks a free local port
      printf '%s\n' --standalone
    fi
  elif [ "$1" = local_ranks ] && [ "$ngpu" -gt 1 ]; then
    printf '%s\n' "$python" -m torch.distributed.run --nproc_per_node "$ngpu" \
      --standalone --max_restarts 0
  else
    printf '%s\n' "$python"
  fi
}

run_stages() {  # run_stages "N command [all_ranks|local_ranks]" ...
  local arguments=("${config[@]}")
  if [ -n "$tag" ]; then arguments+=("tag=$tag"); fi
  if [ -n "$exp_dir" ]; then arguments+=("exp_dir=$exp_dir"); fi
  arguments+=(${overrides[@]+"${overrides[@]}"})

  cd "$(dirname "${BASH_SOURCE[0]}")/.."   # the repository root: python -m recipes.<recipe>
  local python=${PYTHON:-python}
  if [ "$ngpu" -gt 1 ]; then  # one process per GPU (CPU processes without GPUs)
    local gpus
    gpus=$("$python" -c 'import torch; print(torch.cuda.device_count())' 2>/dev/null) || gpus=0
    case "$gpus" in ''|*[!0-9]*) gpus=0 ;; esac
    if [ "$gpus" -gt 0 ] && [ "$ngpu" -gt "$gpus" ]; then
      fail "--ngpu $ngpu, but this machine has $gpus GPU(s) (CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES-unset}): at most --ngpu $gpus"
    fi
  fi

  local spec number command where launcher status
  for spec in "$@"; do
    read -r number command where <<< "$spec"
    if [ "$stage" -gt "$number" ] || [ "$stop_stage" -lt "$number" ]; then
      continue
    fi
    if [ "$where" != all_ranks ] && [ "$node_rank" != 0 ]; then
      echo "== stage $number: $command runs on node 0 only =="
      continue
    fi
    mapfile -t launcher < <(_torchrun "$where" "$python")
    echo "== stage $number: $command =="
    status=0
    "${launcher[@]}" -m "recipes.$recipe" "$command" with "${arguments[@]}" || status=$?
    if [ "$status" != 0 ]; then
      echo "run.sh: stage $number ($command) failed with exit status $status (the error is above)" >&2
      if [ "$where" = all_ranks ] && [ "$nnodes" -gt 1 ]; then
        echo "run.sh: with --nnodes $nnodes a failed rank on any machine ends the job; a RendezvousTimeoutError means that not all machines joined at --master_addr $master_addr --master_port $master_port within --rdzv_timeout $rdzv_timeout s" >&2
      fi
      exit "$status"
    fi
  done
}
