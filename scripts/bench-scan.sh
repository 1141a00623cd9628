#!/usr/bin/env bash
# Speed and memory of `cgscale scan`, warm cache, median of RUNS (5) runs,
# against peers measured in the same run on the same trees:
#   scan / find BASE VOLUME...     target <= 0.8
#   scan --sizes / gdu -n -p BASE  target <= 1.0 (du -s when gdu is absent)
#   peak RSS of scan               target <= 100 MB
# The store (about ENTRIES_TARGET = one million entries) is generated on a
# loop-mounted ext4 volume, with relocation links onto a second volume.
# Needs root. Prints the ratios; exits 1 when a target is missed.
#
#   sudo scripts/bench-scan.sh bin/cgscale
set -euo pipefail
bin=$(realpath "${1:?usage: bench-scan.sh CGSCALE_BINARY}")
runs=${RUNS:-5}
accounts=${ACCOUNTS:-200000}
. "$(dirname "$0")/vollib.sh"
need_root "$@"
[ -x /usr/bin/time ] || { echo "bench-scan.sh: needs GNU time (apt-get install time)" >&2; exit 1; }

scratch cgscale-bench
t=$work
loopvol v1 8G mkfs.ext4 -q -F -N 2500000
loopvol v2 2G mkfs.ext4 -q -F -N 500000
base=$t/v1/CommuniGate

echo "== generating $accounts accounts"
"$bin" gen --accounts "$accounts" --domains 60 --relocate-to "$t/v2/cg" --relocate 6 \
  --big-mailbox 20000 --queue 2000 "$base" >/dev/null
entries=$(find "$base" "$t/v2/cg" | wc -l)
echo "   $entries entries (base and second volume)"

# once NAME CMD...: times one run (wall seconds, peak RSS in KB), appended to $t/NAME
once() {
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$t/$name.one" "$@" >/dev/null 2>/dev/null || true
  tail -n 1 "$t/$name.one" >>"$t/$name"   # GNU time may first note a non-zero exit
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
col() { awk -v c="$2" '{print $c}' "$t/$1"; }

if command -v gdu >/dev/null; then peer=(gdu -n -p "$base"); else peer=(du -s "$base"); fi
sync
# Warm the cache, then interleave the tools run by run, so a passing load
# on the machine weighs on all of them alike.
find "$base" "$t/v2/cg" >/dev/null; "$bin" scan --sizes "$base" >/dev/null 2>&1 || true; "${peer[@]}" >/dev/null
for _ in $(seq "$runs"); do
  once find find "$base" "$t/v2/cg"
  once scan "$bin" scan --progress never "$base"
  once peer "${peer[@]}"
  once scan_sizes "$bin" scan --progress never --sizes "$base"
done
peer="${peer[*]:0:${#peer[@]}-1}"

find_s=$(col find 1 | median); scan_s=$(col scan 1 | median)
sizes_s=$(col scan_sizes 1 | median); peer_s=$(col peer 1 | median)
rss_kb=$(cat <(col scan 2) <(col scan_sizes 2) | sort -n | tail -1)
r1=$(awk -v a="$scan_s" -v b="$find_s" 'BEGIN {printf "%.2f", a/b}')
r2=$(awk -v a="$sizes_s" -v b="$peer_s" 'BEGIN {printf "%.2f", a/b}')
rss_mb=$(awk -v k="$rss_kb" 'BEGIN {printf "%.1f", k/1024}')

verdict() { awk -v v="$1" -v max="$2" 'BEGIN {print (v <= max) ? "ok" : "MISSED"}'; }
echo "== warm cache, median of $runs, $entries entries, $(nproc) CPUs"
printf '   find BASE VOLUME:        %6.2fs\n' "$find_s"
printf '   cgscale scan:            %6.2fs   ratio %s (target <= 0.8)  %s\n' "$scan_s" "$r1" "$(verdict "$r1" 0.8)"
printf '   %-24s %6.2fs\n' "$peer BASE:" "$peer_s"
printf '   cgscale scan --sizes:    %6.2fs   ratio %s (target <= 1.0)  %s\n' "$sizes_s" "$r2" "$(verdict "$r2" 1.0)"
printf '   peak RSS of scan:        %6s MB   (target <= 100)            %s\n' "$rss_mb" "$(verdict "$rss_mb" 100)"
for v in "$(verdict "$r1" 0.8)" "$(verdict "$r2" 1.0)" "$(verdict "$rss_mb" 100)"; do
  [ "$v" = ok ] || exit 1
done
