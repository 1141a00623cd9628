#!/usr/bin/env bash
# Exact counts on a real filesystem: makes a loop-mounted ext4 volume and a
# second (xfs) volume, generates a store of ACCOUNTS (default 300000)
# accounts in DOMAINS (default 60) domains, flat and in subdirectories,
# with relocation links onto the second volume, then compares the accounts
# per domain from `cgscale scan --json` with a count taken by find. Prints
# the differences (there must be none) and cleans up. Needs root and jq.
#
#   sudo scripts/check-scan.sh bin/cgscale
set -euo pipefail
bin=$(realpath "${1:?usage: check-scan.sh CGSCALE_BINARY}")
accounts=${ACCOUNTS:-300000}
domains=${DOMAINS:-60}
. "$(dirname "$0")/vollib.sh"
need_root "$@"
for c in jq mkfs.ext4 mkfs.xfs find; do
  command -v $c >/dev/null || { echo "check-scan.sh: $c is missing (apt-get install jq e2fsprogs xfsprogs findutils)" >&2; exit 1; }
done

scratch cgscale-check
t=$work
loopvol v1 8G mkfs.ext4 -q -F -N 3000000
loopvol v2 4G mkfs.xfs -q -f
base=$t/v1/CommuniGate

echo "== generating $accounts accounts in $domains domains (relocations onto $t/v2)"
start=$(date +%s)
"$bin" gen --accounts "$accounts" --domains "$domains" --flat-fraction 0.5 --scheme prefix:1 \
  --mounts 3 --relocate-to "$t/v2/cg" --relocate 6 --queue 500 "$base" >/dev/null
echo "   took $(( $(date +%s) - start ))s"

echo "== scanning"
rc=0
"$bin" scan --json "$base" >"$t/scan.json" 2>"$t/scan.err" || rc=$?
case $rc in 0|3) ;; *) echo "check-scan.sh: scan exited $rc" >&2; cat "$t/scan.err" >&2; exit 1;; esac
jq -r '.accounts_per_domain | to_entries[] | "\(.key) \(.value)"' "$t/scan.json" | sort >"$t/scan.txt"

echo "== counting with find"
# An account is a *.macnt or *.mbox entry not inside a *.macnt; find -L
# follows the relocation links, as the server does. The Main Domain is
# Accounts/, reported as "(main)".
count() { find -L "$1" -name '*.macnt' -prune -print -o -name '*.mbox' -print | wc -l; }
{
  [ -d "$base/Accounts" ] && echo "(main) $(count "$base/Accounts")"
  find -L "$base/Domains" -mindepth 1 -maxdepth 1 -type d | while read -r d; do
    echo "$(basename "$d") $(count "$d")"
  done
} | sort >"$t/find.txt"

ndom=$(wc -l <"$t/find.txt")
nacc=$(awk '{s+=$2} END {print s}' "$t/find.txt")
nrel=$(jq '[.relocations[] | select(.status == "followed")] | length' "$t/scan.json")
layouts=$(jq -r '[.domains[].storage] | group_by(.) | map("\(.[0])=\(length)") | join(" ")' "$t/scan.json")
echo "   find: $ndom domains, $nacc accounts; scan: $(jq .totals.domains "$t/scan.json") domains, $(jq .totals.accounts "$t/scan.json") accounts"
echo "   storage: $layouts; relocation links followed: $nrel"
echo "   on: $(jq -r '[.volumes[] | "\(.filesystem) at \(.mount_point)"] | join(", ")' "$t/scan.json")"

echo "== differences (scan < > find)"
if diff "$t/scan.txt" "$t/find.txt"; then
  echo "   none"
else
  echo "check-scan.sh: scan and find disagree" >&2; exit 1
fi
[ "$ndom" -ge 50 ] && [ "$nacc" -ge 300000 ] || [ -n "${ACCOUNTS:-}" ] || { echo "check-scan.sh: store smaller than 300000 accounts in 50 domains" >&2; exit 1; }
[ "$nrel" -gt 0 ] || { echo "check-scan.sh: no relocation link was followed" >&2; exit 1; }
echo "check-scan.sh: ok"
