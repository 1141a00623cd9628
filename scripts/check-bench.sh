#!/usr/bin/env bash
# Runs a whole default `cgscale bench` on each test volume and prints, from
# its --json, what the bench issue promises:
#   - the cost of looking up a never-seen name at 50,000 entries divided by
#     its cost at 1,000 (p50), and the knee;
#   - the writer curve's recommendation, and the rate of one writer next to
#     fs_mark's (a peer tool doing the same create, write, fsync) with one
#     thread (fs_mark's figure for several threads is not wall-clock based);
#   - the wall time of the whole sweep.
# and checks: ext4 without dir_index: ratio >= 10 and knee <= 20000;
# ext4 with dir_index and xfs: ratio <= 3 and no knee up to 100000; every
# volume: the whole sweep within 120 s. Exit status 1 if a check fails.
#
#   scripts/check-bench.sh [bin/cgscale]      (volumes: $CGSCALE_VOLUMES, default /var/tmp/cgvol)
set -euo pipefail
bin=${1:-bin/cgscale}
vols=${CGSCALE_VOLUMES:-/var/tmp/cgvol}
out=${OUT:-$(mktemp -d /tmp/check-bench.XXXXXX)}
command -v jq >/dev/null || { echo "check-bench.sh: needs jq" >&2; exit 2; }
fail=0

printf '%-16s %-10s %7s %11s %11s %7s %9s %9s %8s %10s %10s\n' \
  volume type seconds 'miss@1k' 'miss@50k' ratio knee 'max/dir' writers '1w msgs/s' 'fs_mark/s'
for v in ext4-nodirindex ext4 xfs btrfs tmpfs; do
  dir=$vols/$v
  if ! mountpoint -q "$dir"; then echo "check-bench.sh: $dir is not mounted (run scripts/mkvolumes.sh $vols)" >&2; fail=1; continue; fi
  json=$out/$v.json
  start=$(date +%s.%N)
  "$bin" bench --json --progress never --svg "$out/$v.svg" "$dir" > "$json"
  secs=$(echo "$(date +%s.%N) - $start" | bc)
  read -r type m1 m50 knee maxd rec rate < <(jq -r '
    def p50(n): (.sizes[] | select(.entries == n) | .ops["lookup-missing"].p50_ns) // 0;
    [ .filesystem.type + (if .filesystem.dir_index == "no" then "-noidx" else "" end),
      p50(1000), p50(50000),
      (if .knee.found then .knee.entries else "none" end),
      .knee.max_entries_per_dir,
      .writers.recommended_writers,
      (.writers.steps[] | select(.writers == 1) | .per_sec) // 0
    ] | @tsv' "$json")
  ratio=$(echo "scale=1; $m50 / $m1" | bc)
  # fs_mark, one thread: 16 KiB files, fsync before close, 100 directories.
  fsm=$dir/.fsm  # fs_mark wants a path shorter than 40 bytes
  rm -rf "$fsm"; mkdir "$fsm"
  peer=$( (cd "$fsm" && fs_mark -d "$fsm" -n 2000 -s 16384 -t 1 -S 1 -D 100 -L 1 2>&1 || true) | awk '/^ *[0-9]/ {print $4}' | tail -1)
  rm -rf "$fsm"
  printf '%-16s %-10s %7.1f %9.1fus %9.1fus %6.1fx %9s %9s %8s %10.0f %10s\n' \
    "$v" "$type" "$secs" "$(echo "$m1/1000" | bc -l)" "$(echo "$m50/1000" | bc -l)" "$ratio" "$knee" "$maxd" "$rec" "$rate" "${peer:-?}"
  check() { if ! eval "$2"; then echo "  FAIL $v: $1" >&2; fail=1; fi; }
  check "whole sweep took ${secs}s, want < 120" "[ \$(echo \"$secs < 120\" | bc) = 1 ]"
  case $v in
    ext4-nodirindex)
      check "ratio $ratio, want >= 10" "[ \$(echo \"$ratio >= 10\" | bc) = 1 ]"
      check "knee at $knee, want <= 20000" "[ \"$knee\" != none ] && [ $knee -le 20000 ]" ;;
    ext4|xfs)
      check "ratio $ratio, want <= 3" "[ \$(echo \"$ratio <= 3\" | bc) = 1 ]"
      check "knee at $knee, want none up to 100000" "[ \"$knee\" = none ]" ;;
  esac
done
echo "results and charts: $out"
exit $fail
