package fsbench

import (
	"os"

	"golang.org/x/sys/unix"
)

// dropCachesPath is the kernel's switch for dropping the page, dentry and
// inode caches.
const dropCachesPath = "/proc/sys/vm/drop_caches"

// canDropCaches reports whether this process may drop the kernel caches,
// and if not, why.
func canDropCaches() (bool, string) {
	f, err := os.OpenFile(dropCachesPath, os.O_WRONLY, 0)
	if err != nil {
		return false, err.Error()
	}
	f.Close()
	return true, ""
}

// dropCaches writes dirty data back and drops clean caches, so the next
// operation reads directory blocks and inodes from the device.
func dropCaches() error {
	unix.Sync()
	return os.WriteFile(dropCachesPath, []byte("3\n"), 0)
}
