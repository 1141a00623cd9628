# Shared by scripts/bench-move.sh and scripts/drill-move.sh (sourced):
# two private ext4 loop volumes and a sample domain written by
# `cgscale gen --extras` ($bin must be set). Needs root.

. "$(dirname "$0")/vollib.sh"
need_root
for t in rsync mkfs.ext4; do
  command -v "$t" >/dev/null || { echo "$0: needs $t" >&2; exit 1; }
done
scratch cgscale-move

# mkvol NAME SIZE_MB: an ext4 image mounted at $work/NAME
mkvol() { loopvol "$1" "$2M" mkfs.ext4 -q -F -i 4096; }

# gen BASE ACCOUNTS: a store at BASE whose one flat domain holds about
# ACCOUNTS accounts with every kind of entry a copy must keep (hard links,
# sparse files, xattrs, odd names, deep paths, links, owners, old times);
# prints the domain's directory.
gen() {
  "$bin" gen --extras --accounts "$2" --domains 1 --flat-fraction 1 --queue 0 --progress=never "$1" >/dev/null
  local d
  for d in "$1"/Domains/*; do echo "$d"; done
}

# same A B: rsync finds no difference between trees A and B
same() {
  local out
  out=$(rsync -aHAXn --checksum --itemize-changes --delete "$1/" "$2/") || return 1
  [ -z "$out" ] || { echo "$out" | head -20 >&2; return 1; }
}

# seconds COMMAND...: run it, print elapsed seconds
seconds() {
  local s e
  s=$(date +%s.%N)
  "$@" >/dev/null 2>"$work/stderr" || { cat "$work/stderr" >&2; echo "$0: failed: $*" >&2; exit 1; }
  e=$(date +%s.%N)
  awk -v s="$s" -v e="$e" 'BEGIN{printf "%.3f\n", e-s}'
}

# median X...: the middle one of an odd number of values
median() { printf '%s\n' "$@" | sort -g | sed -n "$(( ($# + 1) / 2 ))p"; }
