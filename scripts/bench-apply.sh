#!/bin/sh
# Speed of `cgscale apply` converting a flat domain of 60,000 accounts on a
# fresh ext4 loop volume (needs root), journal and final rescan included,
# against a peer that only renames: batched `mv -t` driven by find, on the
# same tree. Median of RUNS runs each, warm cache. Usage:
#   sudo scripts/bench-apply.sh BIN [RUNS]
set -eu
BIN=$(realpath "${1:?usage: bench-apply.sh path/to/cgscale [runs]}")
RUNS=${2:-3}
DOM=example-0001.test
. "$(dirname "$0")/vollib.sh"
need_root "$@"
scratch bench-apply
T=$work
loopvol mnt 3G mkfs.ext4 -q -F -N 600000
M=$T/mnt
S=$M/store

# 60,850 accounts in all: the Main Domain takes its share, the flat domain about 60,000.
"$BIN" gen --accounts 60850 --domains 1 --skew 1 --flat-fraction 1 --queue 0 --mdir-fraction 0 --progress never "$S" >/dev/null
"$BIN" plan --domain $DOM --scheme prefix:1 --out "$T/plan.json" "$S" >/dev/null
accounts=$(sed -n 's/.*"entries": \([0-9]*\),/\1/p' "$T/plan.json" | head -1)
entries=$(grep -c '"op": "rename"' "$T/plan.json")
echo "bench-apply: ext4 loop volume, $accounts accounts ($entries directory entries) in $DOM, $RUNS runs, warm cache"

now() { date +%s%N; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# Peer: one mv per batch of names sharing a first character, into <c>.sub
# (the same renames as prefix:1, without checks, journal or rescan).
peer() {
	d=$S/Domains/$DOM
	for c in a b c d e f g h i j k l m n o p q r s t u v w x y z 0 1 2 3 4 5 6 7 8 9; do
		mkdir "$d/$c.sub"
		find "$d" -maxdepth 1 -mindepth 1 -iname "$c*" ! -name Settings ! -name '*.sub' -exec mv -t "$d/$c.sub" {} +
	done
	mkdir "$d/_.sub"
	find "$d" -maxdepth 1 -mindepth 1 ! -name Settings ! -name '*.sub' -exec mv -t "$d/_.sub" {} +
	sync -f "$d"
}
peer_back() {
	d=$S/Domains/$DOM
	find "$d" -mindepth 2 -maxdepth 2 -path "$d/*.sub/*" -exec mv -t "$d" {} +
	rmdir "$d"/*.sub
	# The domain directory's mtime changed; the plan would refuse it.
	"$BIN" plan --domain $DOM --scheme prefix:1 --out "$T/plan.json" "$S" >/dev/null
}

# Round trip first: apply, rescan (inside apply), undo; the manifest of
# path, size, mode and mtime must come back identical (cgscale's own state,
# .cgscale/ and .cgscale.lock, and the base directory's times left out).
# A directory's size is its block count, which the filesystem decides
# (ext4 directories never shrink), so it is compared for files only.
manifest() { (cd "$S" && find . -path ./.cgscale -prune -o ! -name .cgscale.lock ! -path . -printf '%p|%y|%s|%M|%T@\n' |
	awk -F'|' -v OFS='|' '$2 == "d" { $3 = "-" } { print }' | sort); }
manifest > "$T/before"
"$BIN" apply --progress never "$T/plan.json" > "$T/apply.out"
cat "$T/apply.out"
grep -q 'none flat' "$T/apply.out"
"$BIN" apply --undo --progress never "$T/plan.json"
manifest > "$T/after"
if cmp -s "$T/before" "$T/after"; then
	echo "round trip: the manifest of $(wc -l < "$T/before") entries is identical after apply --undo"
else
	echo "round trip: the manifest differs after apply --undo:"; diff "$T/before" "$T/after" | head; exit 1
fi
rm -rf "$S/.cgscale/plans"

: > "$T/ours"; : > "$T/peer"
i=1
while [ "$i" -le "$RUNS" ]; do
	t0=$(now); "$BIN" apply --progress never "$T/plan.json" >/dev/null; t1=$(now)
	echo $(( (t1 - t0) / 1000000 )) >> "$T/ours"
	"$BIN" apply --undo --progress never "$T/plan.json" >/dev/null
	rm -rf "$S/.cgscale/plans"   # let the same plan be applied again
	t0=$(now); peer; t1=$(now)
	echo $(( (t1 - t0) / 1000000 )) >> "$T/peer"
	peer_back
	echo "run $i: cgscale apply $(tail -1 "$T/ours") ms, find+mv $(tail -1 "$T/peer") ms"
	i=$((i + 1))
done
ours=$(median < "$T/ours"); theirs=$(median < "$T/peer")
rate=$(( accounts * 1000 / ours ))
echo "cgscale apply: median $ours ms = $rate accounts/s (target: 5000 accounts/s)"
echo "find + mv -t peer: median $theirs ms = $(( accounts * 1000 / theirs )) accounts/s"
awk -v o="$ours" -v p="$theirs" 'BEGIN { printf "ratio: cgscale apply takes %.2f times as long as the bare mv peer (which has no checks, journal, or rescan)\n", o / p }'
[ "$rate" -ge 5000 ]
