#!/usr/bin/env bash
# Fault drill for `cgscale move`, on two ext4 loop volumes:
#  1. fidelity: a generated domain (FIDELITY_ACCOUNTS, default 20000) with
#     hard links, sparse files, xattrs, non-UTF-8 names and internal links is
#     moved; rsync -aHAXn --checksum against a pristine copy must report
#     nothing, and the store path must be a link resolving to the copy;
#  2. crash: RUNS (default 20) moves of a smaller domain (DRILL_ACCOUNTS,
#     default 2000) killed with SIGKILL at a random moment, then
#     `cgscale move --resume`; each must end with every account present
#     exactly once and rsync reporting no difference.
#
#   sudo scripts/drill-move.sh bin/cgscale
set -euo pipefail
bin=$(readlink -f "${1:?usage: drill-move.sh CGSCALE_BINARY}")
. "$(dirname "$0")/movelib.sh"
runs=${RUNS:-20}

mkvol v1 4096
mkvol v2 2048

echo "== fidelity: ${FIDELITY_ACCOUNTS:-20000} accounts"
src=$(gen "$work/v1/base" "${FIDELITY_ACCOUNTS:-20000}")
name=$(basename "$src")
cp -a "$src" "$work/v1/pristine"
"$bin" move --progress=never "$src" "$work/v2" >/dev/null 2>&1
[ -L "$src" ] || { echo "FAIL: $src is not a link" >&2; exit 1; }
[ "$(readlink -f "$src")" = "$work/v2/Domains/$name" ] || { echo "FAIL: link resolves to $(readlink -f "$src")" >&2; exit 1; }
same "$work/v1/pristine" "$src" || { echo "FAIL: rsync reports differences" >&2; exit 1; }
echo "fidelity: ok ($(find "$work/v1/pristine" | wc -l) entries, rsync -aHAXn --checksum: no difference)"
rm -rf "$work/v1/base" "$work/v1/pristine" "$work/v2/Domains"

echo "== crash drill: $runs runs, ${DRILL_ACCOUNTS:-2000} accounts"
tpl=$(gen "$work/v1/tpl" "${DRILL_ACCOUNTS:-2000}")
src=$work/v1/base/Domains/$(basename "$tpl")
want=$(find "$tpl" -name '*.macnt' | wc -l)
fresh() {
  rm -rf "$work/v1/base" "$work/v2/Domains"
  mkdir -p "$work/v1/base/Domains" "$work/v1/base/Settings"
  cp -a "$tpl" "$work/v1/base/Domains/"
  sync
}
fresh
full=$(seconds "$bin" move --progress=never "$src" "$work/v2")
echo "an uninterrupted move takes ${full}s; kills fall in [0, ${full}s]"
killed=0 finished=0
for i in $(seq 1 "$runs"); do
  fresh
  "$bin" move --progress=never "$src" "$work/v2" >/dev/null 2>&1 &
  pid=$!
  sleep "$(awk -v r="$RANDOM" -v m="$full" 'BEGIN{printf "%.3f", r/32767*m}')"
  if kill -9 "$pid" 2>/dev/null; then killed=$((killed+1)); fi
  wait "$pid" 2>/dev/null || true
  # A kill before the journal began, or after the move finished, leaves
  # nothing to resume: the command then refuses (exit 5) and says so.
  rc=0; out=$("$bin" move --resume --progress=never "$work/v1/base" 2>&1 >/dev/null) || rc=$?
  if [ "$rc" != 0 ] && ! { [ "$rc" = 5 ] && grep -q 'nothing to resume' <<<"$out"; }; then
    echo "FAIL run $i: move --resume exited $rc: $out" >&2
    exit 1
  fi
  resumed=$([ "$rc" = 0 ] && echo "resumed" || echo "nothing to resume")
  state=$(if [ -L "$src" ]; then echo moved; else echo "not moved"; fi)
  on_dest=$( [ -d "$work/v2/Domains/$name" ] && find "$work/v2/Domains/$name" -name '*.macnt' | wc -l || echo 0)
  on_src=$(find "$work/v1/base" -name '*.macnt' | wc -l)
  # (a pre-flight probe directory, .cgscale-probe-PID, may stay on the
  # target when the kill hits it; the next move to that target removes it)
  leftovers=$(find "$work/v1/base/Domains" "$work/v2" -maxdepth 3 -name '.cgscale-*' ! -name '.cgscale-probe-*' | wc -l)
  via=$(find -L "$src" -name '*.macnt' | wc -l)
  if [ "$via" != "$want" ] || [ $((on_dest + on_src)) != "$want" ] || [ "$leftovers" != 0 ]; then
    echo "FAIL run $i ($state): $via accounts through the store path, $on_src on the source volume, $on_dest on the target, $leftovers temporary names; want $want once" >&2
    exit 1
  fi
  same "$tpl" "$src" || { echo "FAIL run $i: rsync reports differences" >&2; exit 1; }
  echo "run $i: $resumed, $state; $want accounts once; rsync: no difference"
done
echo "crash drill: $runs runs ($killed killed mid-move), all consistent"
