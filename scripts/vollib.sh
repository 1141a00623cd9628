# Sourced by the check, bench and drill scripts: a scratch directory and
# private loop volumes inside it, all unmounted and removed on exit.
# POSIX sh, so that /bin/sh scripts can use it too.

# need_root ARGS...: stop unless running as root (loop mounts need it).
need_root() {
  [ "$(id -u)" = 0 ] && return 0
  echo "$0: needs root to make and mount loop volumes; run: sudo $0 $*" >&2
  exit 1
}

# scratch PREFIX: a fresh directory $work under /var/tmp; on exit every
# volume mounted below it is unmounted and the directory removed.
scratch() {
  work=$(mktemp -d -p /var/tmp "$1.XXXXXX")
  trap scratch_cleanup EXIT
  trap 'exit 130' INT TERM
}

scratch_cleanup() {
  findmnt -rn -o TARGET | grep "^$work/" | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m"
  done
  rm -rf "$work"
}

# loopvol NAME SIZE MKFS [ARGS...]: an image $work/NAME.img of SIZE
# (truncate's units: 3G, 4096M) made with MKFS ARGS, mounted at $work/NAME.
loopvol() {
  _name=$1 _size=$2
  shift 2
  truncate -s "$_size" "$work/$_name.img"
  "$@" "$work/$_name.img" >/dev/null
  mkdir -p "$work/$_name"
  mount -o loop "$work/$_name.img" "$work/$_name"
}
