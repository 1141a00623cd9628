#!/bin/sh
# demo.sh BIN: generate a sample CommuniGate Pro store in a temporary
# directory and audit it with `BIN scan`. Needs no root; removes its
# temporary directories however it ends: normally, on an error, or on
# SIGHUP, SIGINT, SIGPIPE (its output piped into `head`) or SIGTERM.
# Exits 0 when the scan succeeds or reports findings (exit 3), otherwise
# with the scan's status (128 + the signal's number after a signal).
set -eu

BIN=${1:?usage: scripts/demo.sh path/to/cgscale}
case $BIN in */*) ;; *) BIN=./$BIN ;; esac

# The cleanup is in place before the first directory exists. A signal only
# sets the exit status: leaving through exit runs the EXIT trap. A write to
# a closed pipe fails (set -e ends the script, the EXIT trap runs) even
# where SIGPIPE was ignored on entry and so cannot be trapped.
work='' vol2=''
trap 'rm -rf ${work:+"$work"} ${vol2:+"$vol2"}' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM
work=$(mktemp -d "${TMPDIR:-/tmp}/cgscale-demo.XXXXXX")
vol2=$(mktemp -d "${TMPDIR:-/tmp}/cgscale-demo-vol2.XXXXXX")
store=$work/store

# 12 domains and 20,000 accounts: the first domain is flat with about 6,000
# accounts (past the vendor's 5,000-account advice), half of the others use
# prefix:1 subdirectories, one mailbox directory holds 3,000 messages, the
# queue has a backlog, two domains have a storage mount point and two
# directories live in the second temporary directory behind links.
echo "== cgscale gen $store"
"$BIN" gen --seed 42 --accounts 20000 --domains 12 --skew 0.3 \
	--flat-fraction 0.5 --scheme prefix:1 --mdir-fraction 0.03 \
	--big-mailbox 3000 --queue 1500 --mounts 2 \
	--relocate-to "$vol2" --relocate 2 "$store"

echo
echo "== cgscale scan $store"
if ! "$BIN" help scan >/dev/null 2>&1; then
	echo "scan is not available in this build of cgscale; the store above is what it would audit."
	exit 0
fi
rc=0
"$BIN" scan "$store" || rc=$?
case $rc in
0) echo "demo: scan found nothing to act on" ;;
3) echo "demo: scan reported findings (exit 3), as expected for this store" ;;
*) echo "demo: scan failed with exit status $rc" >&2; exit "$rc" ;;
esac
exit 0
