#!/usr/bin/env bash
# Unmounts and deletes the volumes scripts/mkvolumes.sh made under DIR.
set -euo pipefail
dir=${1:?usage: rmvolumes.sh DIR}
for name in ext4 ext4-nodirindex ext4-notype ext4-inline xfs xfs-noftype btrfs tmpfs; do
  if mountpoint -q "$dir/$name" 2>/dev/null; then umount "$dir/$name" || umount -l "$dir/$name"; fi
  rmdir "$dir/$name" 2>/dev/null || true
done
rm -rf "$dir/images"
rmdir "$dir" 2>/dev/null || true
