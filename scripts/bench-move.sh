#!/usr/bin/env bash
# Speed of `cgscale move` against its peers, on one generated domain moved
# between two ext4 loop volumes (warm cache; median of RUNS runs, 5 by
# default, each run timing every command once in turn). The targets:
#   cgscale move --verify=meta   vs  cp -a                                (target: ratio <= 1.1)
#   cgscale move (checksums)     vs  rsync -aHAX + rsync -aHAXn --checksum (target: ratio <= 1.0)
# These peers neither make the copy durable nor delete the source; the
# move does both (and verifies, and swaps in the link). So the script also
# prints the ratio against a peer doing that same durable job with standard
# tools, what a cross-device mv followed by a sync does:
#   cgscale move --verify=meta   vs  cp -a SRC DST && sync && rm -rf SRC   (no target)
# Each ratio is printed two ways: of the medians, and the median of the
# ratios within one run (less moved by a machine whose speed drifts
# between runs). Then the processor time the machine spent on each
# command, and the time of each phase of the median move runs (from
# --json).
#
#   sudo scripts/bench-move.sh bin/cgscale        # ACCOUNTS=20000 RUNS=5 by default
set -euo pipefail
bin=$(readlink -f "${1:?usage: bench-move.sh CGSCALE_BINARY}")
accounts=${ACCOUNTS:-20000}
runs=${RUNS:-5}
[ $((runs % 2)) = 1 ] || { echo "$0: RUNS must be odd (a median)" >&2; exit 2; }
. "$(dirname "$0")/movelib.sh"
command -v jq >/dev/null || { echo "$0: needs jq" >&2; exit 1; }

mkvol v1 4096
mkvol v2 8192   # rsync -aHAX fills the holes of sparse files
tpl=$(gen "$work/v1/tpl" "$accounts")
echo "tree: $accounts accounts, $(find "$tpl" | wc -l) entries, $(du -sh "$tpl" | cut -f1) ($(nproc) CPUs, warm cache, load $(cut -d' ' -f1-3 /proc/loadavg))"

fresh() { # a fresh store holding a copy of the template
  rm -rf "$work/v1/base" "$work/v2/Domains" "$work/v2/cp" "$work/v2/rs" "$work/v2/mv"
  mkdir -p "$work/v1/base/Domains" "$work/v1/base/Settings"
  cp -a "$tpl" "$work/v1/base/Domains/"
  sync
}
rsync_both() {
  rsync -aHAX "$1/" "$2/" && [ -z "$(rsync -aHAXn --checksum --itemize-changes "$1/" "$2/")" ]
}
durable_mv() { cp -a "$1" "$2" && sync && rm -rf "$1"; }
# move OUT ARGS...: cgscale move --json, its document kept in OUT
move() {
  local out=$1
  shift
  "$bin" move --json --progress=never "$@" >"$out"
}
# busy: processor time the whole machine has spent working (user, nice,
# system, irq, softirq; not idle, iowait or steal) since boot, in ticks;
# it counts the kernel's writeback threads too, which a command that
# syncs keeps busy.
hz=$(getconf CLK_TCK)
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }
# timed NAME COMMAND...: run it; its seconds go to NAME_t, the machine's
# busy processor-seconds meanwhile to NAME_c
timed() {
  local -n wall=${1}_t cpu=${1}_c
  shift
  local b0 b1
  b0=$(busy)
  wall+=("$(seconds "$@")")
  b1=$(busy)
  cpu+=("$(awk -v a="$b0" -v b="$b1" -v hz="$hz" 'BEGIN{printf "%.2f", (b-a)/hz}')")
}
src=$work/v1/base/Domains/$(basename "$tpl")
cp_t=() meta_t=() rs_t=() full_t=() mv_t=()
cp_c=() meta_c=() rs_c=() full_c=() mv_c=()
for i in $(seq "$runs"); do
  fresh; timed cp cp -a "$src" "$work/v2/cp"
  fresh; timed meta move "$work/meta$i.json" --verify=meta "$src" "$work/v2"
  fresh; timed rs rsync_both "$src" "$work/v2/rs"
  fresh; timed full move "$work/full$i.json" "$src" "$work/v2"
  fresh; timed mv durable_mv "$src" "$work/v2/mv"
  echo "run $i: cp -a ${cp_t[-1]}s  move --verify=meta ${meta_t[-1]}s  rsync+rsync --checksum ${rs_t[-1]}s  move ${full_t[-1]}s  cp -a+sync+rm -rf ${mv_t[-1]}s"
done
cp_m=$(median "${cp_t[@]}"); meta_m=$(median "${meta_t[@]}")
rs_m=$(median "${rs_t[@]}"); full_m=$(median "${full_t[@]}"); mv_m=$(median "${mv_t[@]}")
# ratio A B: the median of A[i]/B[i] over the runs (arrays named A and B)
ratio() {
  local -n a=$1 b=$2
  local i r=()
  for i in "${!a[@]}"; do r+=("$(awk -v x="${a[$i]}" -v y="${b[$i]}" 'BEGIN{printf "%.3f", x/y}')"); done
  median "${r[@]}"
}
report() { # LABEL A_MEDIAN B_MEDIAN RUN_RATIO TARGET
  awk -v l="$1" -v a="$2" -v b="$3" -v r="$4" -v t="$5" 'BEGIN{printf "%-50s %.2f  (%.3fs / %.3fs; median of the runs'"'"' ratios %.2f; %s)\n", l":", a/b, a, b, r, t}'
}
report "move --verify=meta / cp -a" "$meta_m" "$cp_m" "$(ratio meta_t cp_t)" "target <= 1.10"
report "move / (rsync -aHAX + rsync -n --checksum)" "$full_m" "$rs_m" "$(ratio full_t rs_t)" "target <= 1.00"
report "move --verify=meta / (cp -a + sync + rm -rf SRC)" "$meta_m" "$mv_m" "$(ratio meta_t mv_t)" "same durable job, no target"

# The processor work of each command: a command that keeps every
# processor busy cannot get faster by running more in parallel, only by
# doing less work.
echo "processor-seconds the machine spent while each ran (median), and per second of the command (of $(nproc) CPUs):"
for n in cp meta rs full mv; do
  case $n in
    cp) l="cp -a" ;; meta) l="move --verify=meta" ;; rs) l="rsync -aHAX + rsync -n --checksum" ;;
    full) l="move" ;; mv) l="cp -a + sync + rm -rf SRC" ;;
  esac
  declare -n w=${n}_t c=${n}_c
  awk -v l="$l" -v c="$(median "${c[@]}")" -v w="$(median "${w[@]}")" 'BEGIN{printf "  %-36s %6.2f CPU-s  %.2f busy\n", l":", c, c/w}'
  unset -n w c
done

# phases NAME TIMES...: the phase times (wall/processor ms) of the run
# whose time is the median
phases() {
  local name=$1 med i
  shift
  med=$(median "$@")
  for i in $(seq "$#"); do
    [ "${!i}" = "$med" ] || continue
    printf '%-20s' "$name phases:"
    jq -r '(.phases // []) | map("\(.phase) \(.ms)/\(.cpu_ms)ms") | join("  ") | if . == "" then "(not reported)" else . end' "$work/$name$i.json"
    return
  done
}
echo "phases: wall/processor time; processor time above wall time means the phase ran in parallel"
phases meta "${meta_t[@]}"
phases full "${full_t[@]}"
