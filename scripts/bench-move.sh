#!/usr/bin/env bash
# Speed of `cgscale move` against its peers, on one generated domain moved
# between two ext4 loop volumes (warm cache; median of 3 runs):
#   cgscale move --verify=meta   vs  cp -a                                (target: ratio <= 1.1)
#   cgscale move (checksums)     vs  rsync -aHAX + rsync -aHAXn --checksum (target: ratio <= 1.0)
# The move also deletes the source and swaps in the link; the peers do not.
#
#   sudo scripts/bench-move.sh bin/cgscale        # ACCOUNTS=20000 by default
set -euo pipefail
bin=$(readlink -f "${1:?usage: bench-move.sh CGSCALE_BINARY}")
accounts=${ACCOUNTS:-20000}
. "$(dirname "$0")/movelib.sh"

mkvol v1 4096
mkvol v2 8192   # rsync -aHAX fills the holes of sparse files
tpl=$(gen "$work/v1/tpl" "$accounts")
echo "tree: $accounts accounts, $(find "$tpl" | wc -l) entries, $(du -sh "$tpl" | cut -f1) ($(nproc) CPUs, warm cache)"

fresh() { # a fresh store holding a copy of the template
  rm -rf "$work/v1/base" "$work/v2/Domains" "$work/v2/cp" "$work/v2/rs"
  mkdir -p "$work/v1/base/Domains"
  cp -a "$tpl" "$work/v1/base/Domains/"
  sync
}
rsync_both() {
  rsync -aHAX "$1/" "$2/" && [ -z "$(rsync -aHAXn --checksum --itemize-changes "$1/" "$2/")" ]
}
src=$work/v1/base/Domains/$(basename "$tpl")
cp_t=() meta_t=() rs_t=() full_t=()
for i in 1 2 3; do
  fresh; cp_t+=("$(seconds cp -a "$src" "$work/v2/cp")")
  fresh; meta_t+=("$(seconds "$bin" move --verify=meta --progress=never "$src" "$work/v2")")
  fresh; rs_t+=("$(seconds rsync_both "$src" "$work/v2/rs")")
  fresh; full_t+=("$(seconds "$bin" move --progress=never "$src" "$work/v2")")
  echo "run $i: cp -a ${cp_t[-1]}s  move --verify=meta ${meta_t[-1]}s  rsync+rsync --checksum ${rs_t[-1]}s  move ${full_t[-1]}s"
done
cp_m=$(median3 "${cp_t[@]}"); meta_m=$(median3 "${meta_t[@]}")
rs_m=$(median3 "${rs_t[@]}"); full_m=$(median3 "${full_t[@]}")
awk -v a="$meta_m" -v b="$cp_m" 'BEGIN{printf "move --verify=meta / cp -a:               %.2f  (%.3fs / %.3fs, target <= 1.10)\n", a/b, a, b}'
awk -v a="$full_m" -v b="$rs_m" 'BEGIN{printf "move / (rsync -aHAX + rsync -n --checksum): %.2f  (%.3fs / %.3fs, target <= 1.00)\n", a/b, a, b}'
