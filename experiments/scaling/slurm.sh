#!/bin/bash
# A qsa sweep on a Ray cluster inside one Slurm allocation: Ray's documented recipe ("Deploying on
# Slurm", slurm-basic.sh in Ray's docs): one `ray start` per node, the head first, then the sweep
# on the head with --address. Edit the #SBATCH lines and the sweep for your site; submit with
#
#     sbatch experiments/scaling/slurm.sh
#
# The sweep directory (--out) must be on a file system every node sees (the trials' run
# directories are written by whichever node runs them); `qsa sweep --resume DIR` finishes the sweep
# in a later allocation if this one ends first.
#SBATCH --job-name=qsa-sweep
#SBATCH --nodes=8
#SBATCH --exclusive
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=32
#SBATCH --mem-per-cpu=1G
#SBATCH --time=01:00:00
set -euo pipefail

. .venv/bin/activate   # the README's set-up plus: pip install -e ".[ray]"

nodes=$(scontrol show hostnames "$SLURM_JOB_NODELIST")
nodes_array=($nodes)
head_node=${nodes_array[0]}
head_node_ip=$(srun --nodes=1 --ntasks=1 -w "$head_node" hostname --ip-address)
port=6379
ip_head=$head_node_ip:$port

srun --nodes=1 --ntasks=1 -w "$head_node" \
    ray start --head --node-ip-address="$head_node_ip" --port=$port \
    --num-cpus "$SLURM_CPUS_PER_TASK" --block &
sleep 10   # the head must be up before the workers join

worker_num=$((SLURM_JOB_NUM_NODES - 1))
for ((i = 1; i <= worker_num; i++)); do
    srun --nodes=1 --ntasks=1 -w "${nodes_array[$i]}" \
        ray start --address "$ip_head" --num-cpus "$SLURM_CPUS_PER_TASK" --block &
    sleep 5
done

qsa sweep experiments/kernels/config.toml --grid model.k=1,2,3,4 --grid model.kernel=mono,poly --seeds 0-9 \
    --engine ray --address "$ip_head" --cpus-per-trial 1 --out "$PWD/runs"
