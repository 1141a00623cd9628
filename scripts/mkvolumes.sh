#!/usr/bin/env bash
# Creates and mounts, as root, one small loop volume of each filesystem the
# tests and benchmarks compare, and prints their mount points.
#
#   sudo scripts/mkvolumes.sh /var/tmp/cgvol      # then: export CGSCALE_VOLUMES=/var/tmp/cgvol
#   sudo scripts/rmvolumes.sh /var/tmp/cgvol
#
# Under DIR: ext4/ (hashed directory index), ext4-nodirindex/ (linear
# directories), ext4-notype/ (no file type in directory entries, so readdir
# answers DT_UNKNOWN), ext4-inline/ (1 KiB blocks, small files kept in
# the inode: some lseek SEEK_HOLE answers fail there), xfs/, btrfs/, tmpfs/.
# Images live in DIR/images.
# SIZE_MB (default 1024) sets the size of each image.
set -euo pipefail
dir=${1:?usage: mkvolumes.sh DIR}
size=${SIZE_MB:-1024}
[ "$(id -u)" = 0 ] || { echo "mkvolumes.sh: needs root (loop mounts)" >&2; exit 1; }

need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  echo "mkvolumes.sh: installing $2" >&2
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
  fi
}
need mkfs.ext4 e2fsprogs
need mkfs.xfs xfsprogs
need mkfs.btrfs btrfs-progs

mkdir -p "$dir/images"
dir=$(cd "$dir" && pwd)

mkvol() { # name mkfs-command...
  local name=$1; shift
  local img=$dir/images/$name.img mnt=$dir/$name
  mkdir -p "$mnt"
  if mountpoint -q "$mnt"; then echo "$mnt"; return; fi
  rm -f "$img"; truncate -s "${size}M" "$img"
  "$@" "$img" >/dev/null 2>&1 || { echo "mkvolumes.sh: $* $img failed" >&2; "$@" "$img"; exit 1; }
  mount -o loop "$img" "$mnt" || { rm -f "$img"; return 1; }
  echo "$mnt"
}
mkvol ext4 mkfs.ext4 -q -F -i 4096
mkvol ext4-nodirindex mkfs.ext4 -q -F -i 4096 -O ^dir_index
mkvol ext4-notype mkfs.ext4 -q -F -i 4096 -O ^filetype
mkvol ext4-inline mkfs.ext4 -q -F -b 1024 -O inline_data
mkvol xfs mkfs.xfs -q -f
mkvol btrfs mkfs.btrfs -q -f
# XFS v4 without d_type (ftype=0): readdir gives no entry types. Newer
# kernels may refuse to mount v4, so this one is optional.
if ! mkvol xfs-noftype mkfs.xfs -q -f -m crc=0 -n ftype=0 2>/dev/null; then
  echo "mkvolumes.sh: this kernel does not mount XFS v4 (ftype=0); ext4-notype covers entries without types" >&2
  rmdir "$dir/xfs-noftype" 2>/dev/null || true
fi
mkdir -p "$dir/tmpfs"
mountpoint -q "$dir/tmpfs" || mount -t tmpfs -o size="${size}m" tmpfs "$dir/tmpfs"
echo "$dir/tmpfs"
