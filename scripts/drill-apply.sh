#!/bin/sh
# Crash drill for `cgscale apply`: RUNS times, kill apply with SIGKILL at a
# random moment, then `apply --resume`, and check that every account of the
# converted domain is present exactly once, where the scheme puts it.
# Root is not needed. Usage: scripts/drill-apply.sh BIN [RUNS] [ACCOUNTS]
set -eu
BIN=$(realpath "${1:?usage: drill-apply.sh path/to/cgscale [runs] [accounts]}")
RUNS=${2:-20}
ACCOUNTS=${3:-20000}
DOM=example-0001.test
PARENT=/dev/shm
[ -w "$PARENT" ] || PARENT=${TMPDIR:-/var/tmp}
T=$(mktemp -d -p "$PARENT" drill-apply.XXXXXX)
trap 'rm -rf "$T"' EXIT

"$BIN" gen --accounts "$ACCOUNTS" --domains 1 --skew 1 --flat-fraction 1 --queue 0 --mdir-fraction 0 "$T/golden" >/dev/null
# The account names of the domain, one a line: the multiset every run must keep.
names() { find "$1/Domains/$DOM" \( -name '*.macnt' -o -name '*.mbox' \) -prune -print | sed 's|.*/||; s/\.macnt$//; s/\.mbox$//' | sort; }
names "$T/golden" > "$T/names.want"
echo "drill: $(wc -l < "$T/names.want") accounts in $DOM, $RUNS runs, store under $PARENT"

# Time an uninterrupted apply: checks until its journal appears, then the
# journaled renames and the rescan. Kills are spread over the second part,
# where a kill leaves the store half converted.
cp -a "$T/golden" "$T/s"
"$BIN" plan --domain $DOM --scheme prefix:2 --out "$T/plan.json" "$T/s" >/dev/null
start=$(date +%s%N)
"$BIN" apply --progress never "$T/plan.json" >/dev/null &
pid=$!
until [ -d "$T/s/.cgscale/journal" ] || ! kill -0 "$pid" 2>/dev/null; do sleep 0.002; done
began=$(date +%s%N)
ops=$(grep -c '"op": "' "$T/plan.json")
nbatch=$(( (ops + 999) / 1000 ))
until [ "$(cat "$T"/s/.cgscale/journal/*.jsonl | grep -c '"kind":"batch","step":"begin"')" -ge "$nbatch" ] || ! kill -0 "$pid" 2>/dev/null; do sleep 0.002; done
ms=$(( ($(date +%s%N) - began) / 1000000 ))
wait "$pid"
echo "drill: $ops operations in $nbatch batches; an uninterrupted apply checks for $(( (began - start) / 1000000 )) ms, then renames for ${ms} ms (then rescans); kills land in the renaming"
rm -rf "$T/s"

pass=0; fail=0; i=1
while [ "$i" -le "$RUNS" ]; do
	cp -a "$T/golden" "$T/s"
	"$BIN" plan --domain $DOM --scheme prefix:2 --out "$T/plan.json" "$T/s" >/dev/null
	delay=$(awk -v s="$(od -An -N4 -tu4 /dev/urandom)" -v m="$ms" 'BEGIN { printf "%.3f", (s % (m + 1)) / 1000 }')
	"$BIN" apply --progress never "$T/plan.json" >"$T/apply.out" 2>&1 &
	pid=$!
	until [ -d "$T/s/.cgscale/journal" ] || ! kill -0 "$pid" 2>/dev/null; do sleep 0.002; done
	sleep "$delay"
	if kill -KILL "$pid" 2>/dev/null; then killed="killed ${delay}s after the journal began"; else killed="finished before the kill at ${delay}s"; fi
	wait "$pid" 2>/dev/null || true
	batches=$(cat "$T"/s/.cgscale/journal/*.jsonl 2>/dev/null | grep -c '"kind":"batch","step":"begin"' || true)
	killed="$killed, in batch $batches of $nbatch"
	status=0
	"$BIN" apply --resume --progress never "$T/plan.json" >"$T/resume.out" 2>&1 || status=$?
	how="resume exit $status"
	if [ "$status" -eq 5 ] && grep -q 'never applied' "$T/resume.out"; then
		# Killed before the journal began: nothing was changed; apply afresh.
		status=0; "$BIN" apply --progress never "$T/plan.json" >"$T/resume.out" 2>&1 || status=$?
		how="killed before the journal began; apply exit $status"
	elif [ "$status" -eq 5 ] && grep -q 'finished' "$T/resume.out"; then
		status=0; how="nothing to resume (apply had finished)"
	fi
	names "$T/s" > "$T/names.got"
	flat=$(find "$T/s/Domains/$DOM" -maxdepth 1 \( -name '*.macnt' -o -name '*.mbox' \) | wc -l)
	dups=$(uniq -d "$T/names.got" | wc -l)
	if [ "$status" -eq 0 ] && cmp -s "$T/names.want" "$T/names.got" && [ "$flat" -eq 0 ]; then
		result=PASS; pass=$((pass + 1))
	else
		result=FAIL; fail=$((fail + 1))
		sed 's/^/    /' "$T/resume.out"
	fi
	printf 'run %2d: %s; %s; %d accounts, %d duplicated, %d left flat: %s\n' \
		"$i" "$killed" "$how" "$(wc -l < "$T/names.got")" "$dups" "$flat" "$result"
	rm -rf "$T/s"
	i=$((i + 1))
done
echo "drill: $pass of $RUNS runs ended with every account present exactly once"
[ "$fail" -eq 0 ]
