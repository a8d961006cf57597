#!/usr/bin/env bash
# scripts/slurm/embed_array.sbatch under a real Slurm: a throwaway single-node cluster (munged,
# slurmctld and slurmd with their own key, socket, config, ports, spool and logs under the test's
# temp dir) gets the README's array job with a 1-based array and the #SBATCH defaults overridden for
# a CPU-only node; the shards are merged and compared with the unsharded store. Also: a stepped array
# and a submission with no clipzs to find are refused in the tasks. Needs root and Debian's slurmctld,
# slurmd, slurm-client and munge (scripts/install-deps.sh); skipped (77) when the daemons cannot be
# started, with the reason and their logs. Every process it starts is stopped on exit.
source "$(dirname "$0")/lib.sh"

missing=()
for b in munged mungekey slurmctld slurmd sbatch sinfo squeue scontrol scancel; do
  command -v "$b" >/dev/null 2>&1 || missing+=("$b")
done
if [ "${#missing[@]}" -gt 0 ]; then
  skip_part "not installed: ${missing[*]} (bash scripts/install-deps.sh installs slurmctld slurmd slurm-client munge)"
  finish
fi
if [ "$(id -u)" -ne 0 ]; then
  skip_part "the test cluster runs slurmd as root (SlurmUser=root); run as root"
  finish
fi

# --- the cluster -------------------------------------------------------------------------------------
# munged wants its socket's directories searchable by everyone (mktemp -d makes $WORK 0700).
chmod 755 "$WORK"
S="$WORK/slurm"; mkdir -p "$S/state" "$S/spool"; chmod 755 "$S"
CONF="$S/slurm.conf"
# Every process started here (the daemons, sbatch, and through them the job scripts and their steps)
# carries this variable, so the clean-up can find exactly those even if one escaped its recorded pid.
TAG="CLIPZS_SLURM_TEST=$S"
# CTest sets CLIPZS to the binary under test; nothing started here may see it: the jobs must find
# clipzs themselves (SLURM_SUBMIT_DIR/build/clipzs, below).
BIN=$(readlink -f "$CLIPZS")
SLENV=(env -u CLIPZS "$TAG" SLURM_CONF="$CONF")
run_tagged() { "${SLENV[@]}" "$@"; }  # (a daemon is started with "${SLENV[@]}" directly, so that $! is its pid)
PIDS=(); NAMES=()  # the daemons started here, and their names
CTLD=
WATCHDOG=

# kill_tagged: SIGKILL every process started here: those that carry $TAG (the daemons, the job
# scripts and their steps, sbatch) and those with a file open under $S (slurmstepd, which overwrites
# its environment with its process title, keeps the slurmd log open).
kill_tagged() {
  local e pid fd
  for e in /proc/[0-9]*/environ; do
    pid=${e#/proc/}; pid=${pid%/environ}
    [ "$pid" = "$$" ] || [ "$pid" = "$BASHPID" ] && continue
    grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null && continue  # exited, not yet reaped
    local ours=0
    if { tr '\0' '\n' < "$e" | grep -qxF "$TAG"; } 2>/dev/null; then ours=1; else
      for fd in "/proc/$pid/fd/"*; do
        case "$(readlink "$fd" 2>/dev/null)" in "$S"/*) ours=1; break ;; esac
      done 2>/dev/null
    fi
    if [ "$ours" -eq 1 ]; then
      echo "clean-up: stopping leftover process $pid ($(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null))" >&2
      kill -KILL "$pid" 2>/dev/null
    fi
  done
}

stop_cluster() {
  trap - EXIT INT TERM HUP
  set +e
  [ -n "$WATCHDOG" ] && kill "$WATCHDOG" 2>/dev/null && wait "$WATCHDOG" 2>/dev/null
  if [ "${#PIDS[@]}" -gt 0 ]; then
    # jobs first, while slurmctld can still cancel them; then the daemons, gently, then not
    local i p alive
    if [ -n "$CTLD" ] && kill -0 "$CTLD" 2>/dev/null; then
      timeout 10 "${SLENV[@]}" scancel --quiet --full --user=root >/dev/null 2>&1
      for i in $(seq 20); do
        [ -z "$(timeout 5 "${SLENV[@]}" squeue -h -o %i 2>/dev/null)" ] && break
        sleep 0.25
      done
    fi
    kill -TERM "${PIDS[@]}" 2>/dev/null
    for i in $(seq 40); do
      alive=0
      for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
      [ "$alive" -eq 0 ] && break
      sleep 0.25
    done
    kill -KILL "${PIDS[@]}" 2>/dev/null
    wait "${PIDS[@]}" 2>/dev/null
  fi
  kill_tagged  # normally nothing is left by now
  rm -rf "$WORK"
}
trap stop_cluster EXIT
trap 'exit 130' INT; trap 'exit 143' TERM; trap 'exit 129' HUP

# If this shell is killed outright (SIGKILL, a CTest timeout), a watchdog stops what it started.
(
  trap - EXIT INT TERM HUP
  while kill -0 $$ 2>/dev/null; do sleep 1; done
  kill_tagged; rm -rf "$WORK"
) </dev/null >/dev/null 2>&1 &
WATCHDOG=$!

cluster_logs() {
  local f
  for f in "$S"/munged.log "$S"/slurmctld.log "$S"/slurmd.log "$S"/*.out; do
    [ -s "$f" ] && { echo "--- tail of $f"; tail -n 8 "$f"; }
  done 2>/dev/null | sed 's/^/  /' >&2
}
cannot_start() { skip_part "the test cluster could not be started: $*"; cluster_logs; finish; }

HOST=$(hostname -s)
NODE=$(slurmd -C 2>/dev/null | grep -m1 '^NodeName=') || cannot_start "slurmd -C printed no node line"
NODE="NodeName=$HOST ${NODE#NodeName=* }"
read -r PORT_CTLD PORT_D < <("$PY" -c "
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(('', 0))
print(*(x.getsockname()[1] for x in s))")

mungekey --create --keyfile="$S/munge.key" >/dev/null 2>&1 || cannot_start "mungekey --create failed"
"${SLENV[@]}" munged --foreground --key-file="$S/munge.key" --socket="$S/munge.sock" --pid-file="$S/munged.pid" \
  --log-file="$S/munged.log" --seed-file="$S/munged.seed" >"$S/munged.out" 2>&1 &
PIDS+=($!); NAMES+=(munged)

cat >"$CONF" <<EOF
ClusterName=clipzstest
SlurmctldHost=$HOST
SlurmUser=root
SlurmctldPort=$PORT_CTLD
SlurmdPort=$PORT_D
AuthType=auth/munge
AuthInfo=socket=$S/munge.sock
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/slurmctld.log
SlurmdLogFile=$S/slurmd.log
$NODE
PartitionName=test Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF

for i in $(seq 40); do [ -S "$S/munge.sock" ] && break; sleep 0.25; done
[ -S "$S/munge.sock" ] || cannot_start "munged made no socket"
"${SLENV[@]}" slurmctld -D -f "$CONF" >"$S/slurmctld.out" 2>&1 &
CTLD=$!; PIDS+=($!); NAMES+=(slurmctld)
"${SLENV[@]}" slurmd -D -f "$CONF" >"$S/slurmd.out" 2>&1 &
PIDS+=($!); NAMES+=(slurmd)
state=
t0=$SECONDS
while [ $((SECONDS - t0)) -lt 30 ]; do
  for i in "${!PIDS[@]}"; do
    kill -0 "${PIDS[$i]}" 2>/dev/null || cannot_start "${NAMES[$i]} exited"
  done
  state=$(timeout 5 "${SLENV[@]}" sinfo -h -n "$HOST" -o %T 2>/dev/null)
  [ "$state" = idle ] && break
  sleep 0.5
done
[ "$state" = idle ] || cannot_start "node $HOST is '${state:-not listed}' after 30 s, not idle"
pass "single-node Slurm $(run_tagged sinfo -V 2>/dev/null | awk '{print $2}') up: node $HOST idle (${NODE#* })"

# --- the jobs ----------------------------------------------------------------------------------------
make_images "$WORK/a"; make_images "$WORK/b"
ls -d "$WORK"/{a,b}/*/* > "$WORK/list.txt"
SB="$CLIPZS_SOURCE_DIR/scripts/slurm/embed_array.sbatch"
# A checkout as sbatch would be run from: build/clipzs is the binary under test; the script is given
# by its absolute path and runs from Slurm's spool, so only SLURM_SUBMIT_DIR can lead it to clipzs.
SUB="$WORK/checkout"; mkdir -p "$SUB/build" "$WORK/elsewhere"; ln -s "$BIN" "$SUB/build/clipzs"
SUB=$(cd "$SUB" && pwd -P)
# The #SBATCH defaults (gpu:1, 8 CPUs, 32G) overridden on the command line for this CPU-only node.
CPU_ONLY=(--gres=none --cpus-per-task=1 --mem=1G --time=00:05:00)
submit() {  # submit DIR SBATCH_ARGS... : sbatch run in DIR; prints the job id
  local dir=$1; shift
  (cd "$dir" && run_tagged sbatch --parsable "$@") 2>"$WORK/sbatch.err" | cut -d';' -f1
}
JOB=$(submit "$SUB" --array=1-3 "${CPU_ONLY[@]}" --export=ALL,DEVICE=cpu \
  "$SB" "$TINY_VIT" "$WORK/list.txt" "$WORK/emb" --batch-size 2 --no-progress)
[ -n "$JOB" ] && pass "sbatch --array=1-3 (CPU overrides) accepted: job $JOB" || { fail "sbatch refused the array job: $(cat "$WORK/sbatch.err")"; finish; }
STEP=$(submit "$SUB" --array=0-4:2 "${CPU_ONLY[@]}" --output="$SUB/stepped-%A_%a.log" \
  "$SB" "$TINY_VIT" "$WORK/list.txt" "$WORK/stepped" --batch-size 2)
[ -n "$STEP" ] || fail "sbatch refused the stepped array job: $(cat "$WORK/sbatch.err")"
# Submitted from a directory without build/clipzs, CLIPZS unset and no clipzs on PATH: nothing to run.
NONE=
if PATH=/usr/bin:/bin command -v clipzs >/dev/null; then
  echo "note: clipzs is installed in /usr/bin or /bin; the job-without-clipzs case is left out" >&2
else
NONE=$(cd "$WORK/elsewhere" && PATH=/usr/bin:/bin submit "$WORK/elsewhere" --array=0-0 "${CPU_ONLY[@]}" \
  --output="$WORK/elsewhere/none-%A_%a.log" "$SB" "$TINY_VIT" "$WORK/list.txt" "$WORK/none")
[ -n "$NONE" ] || fail "sbatch refused the job without clipzs: $(cat "$WORK/sbatch.err")"
fi

# The unsharded reference at the tasks' thread count (--cpus-per-task=1 -> --threads 1) while they run.
expect_exit 0 "unsharded reference (--threads 1)" -- "$CLIPZS" embed images --model "$TINY_VIT" --input "$WORK/list.txt" \
  --batch-size 2 --threads 1 --no-progress --out "$WORK/full"

queued() { [ -n "$(timeout 10 "${SLENV[@]}" squeue -h -o %i 2>/dev/null)" ]; }
t0=$SECONDS
while queued && [ $((SECONDS - t0)) -lt 120 ]; do sleep 0.5; done
if queued; then
  fail "jobs still queued or running after 120 s:"; run_tagged squeue >&2; cluster_logs
  finish
fi
# task_states JOB: "task state exit" per array task, from slurmctld (no accounting database here)
task_states() {
  run_tagged scontrol -o show job "$1" 2>/dev/null | sed -E 's/.*ArrayTaskId=([^ ]+).* JobState=([^ ]+).* ExitCode=([^ ]+).*/\1 \2 \3/' | sort -n
}
states=$(task_states "$JOB" | tr '\n' ',')
[ "$states" = "1 COMPLETED 0:0,2 COMPLETED 0:0,3 COMPLETED 0:0," ] && pass "array tasks 1..3 completed ($((SECONDS - t0)) s after the reference)" \
  || { fail "array tasks: $states"; tail -n 5 "$SUB"/clipzs-embed-"$JOB"_*.log >&2; }
for t in 1 2 3; do
  log="$SUB/clipzs-embed-${JOB}_$t.log"
  grep -qF "embed_array: clipzs = $SUB/build/clipzs (from SLURM_SUBMIT_DIR)" "$log" 2>/dev/null \
    && pass "task $t log: clipzs found from SLURM_SUBMIT_DIR" || { fail "task $t log lacks the clipzs line"; sed 's/^/  log: /' "$log" >&2; }
  grep -qE "= shard $((t - 1))/3 -> .*\(device cpu, threads 1\)" "$log" 2>/dev/null \
    && pass "task $t (1-based) ran shard $((t - 1))/3 on cpu with 1 thread" || fail "task $t did not run shard $((t - 1))/3 on cpu with 1 thread"
done
expect_exit 0 "merge the array's shards" -- "$CLIPZS" merge "$WORK"/emb.shard-*-of-3 --out "$WORK/emb"
cmp -s "$WORK/full/embeddings.npy" "$WORK/emb/embeddings.npy" && pass "embeddings.npy byte-identical to the unsharded store" \
  || fail "merged embeddings.npy differs from the unsharded store"
cmp -s "$WORK/full/rows.jsonl" "$WORK/emb/rows.jsonl" && pass "rows.jsonl byte-identical to the unsharded store" \
  || fail "merged rows.jsonl differs from the unsharded store"

if [ -n "$STEP" ]; then
  states=$(task_states "$STEP" | tr '\n' ',')
  [ "$states" = "0 FAILED 2:0,2 FAILED 2:0,4 FAILED 2:0," ] && pass "stepped array --array=0-4:2: every task refused (exit 2)" \
    || fail "stepped array tasks: $states"
  for t in 0 2 4; do
    grep -qF "step or gaps" "$SUB/stepped-${STEP}_$t.log" 2>/dev/null && pass "stepped task $t says why" \
      || { fail "stepped task $t log lacks the reason"; sed 's/^/  log: /' "$SUB/stepped-${STEP}_$t.log" >&2; }
  done
  compgen -G "$WORK/stepped.shard-*" >/dev/null && fail "a stepped task wrote a shard" || pass "no shard from the stepped array"
fi
if [ -n "$NONE" ]; then
  states=$(task_states "$NONE" | tr '\n' ',')
  [ "$states" = "0 FAILED 2:0," ] && pass "no clipzs to find: task refused (exit 2)" || fail "job without clipzs: $states"
  grep -qF "set CLIPZS" "$WORK/elsewhere/none-${NONE}_0.log" 2>/dev/null && pass "it says to set CLIPZS or submit from the checkout" \
    || { fail "the job without clipzs does not say what to do"; sed 's/^/  log: /' "$WORK/elsewhere/none-${NONE}_0.log" >&2; }
fi
finish
