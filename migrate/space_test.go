package migrate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cgscale/cgscale/errs"
	"github.com/cgscale/cgscale/internal/testfs"
)

// smallMessages fills dom with accounts accounts of perAcct messages
// each, of 300 to 900 bytes: a tree whose space is mostly the rounding of
// each file up to a block.
func smallMessages(t *testing.T, dom string, accounts, perAcct int) {
	t.Helper()
	for a := 0; a < accounts; a++ {
		box := filepath.Join(mkAcct(t, dom, fmt.Sprintf("acct%04d", a)), "INBOX.mdir")
		must(t, os.Mkdir(box, 0o700))
		for m := 0; m < perAcct; m++ {
			body := strings.Repeat("x", 300+(a*perAcct+m)*37%600)
			must(t, os.WriteFile(filepath.Join(box, fmt.Sprintf("%d.msg", m)), []byte(body), 0o600))
		}
	}
}

// oldEstimate is what the pre-flight asked for before it looked at the
// target's blocks: the source's allocated bytes plus the margin.
func oldEstimate(t Totals) int64 { return t.Allocated + t.Allocated/100 + 4<<20 }

// Small files written on 1 KiB blocks (ext4 with inline data) take four
// times their source blocks on a 4 KiB-block target: the plan refuses
// before any change, where the source's allocated blocks said they fit,
// and the copy does run out of space there.
func TestSpaceEstimateLargerTargetBlocks(t *testing.T) {
	needRoot(t)
	base := newBase(t, "ext4-inline")
	dom := filepath.Join(base, "Domains", "example.test")
	smallMessages(t, dom, 30, 100)
	keep := pristine(t, dom)
	small := testfs.Mount(t, 18, "mkfs.ext4", "-q", "-b", "4096", "-N", "8000")

	plan, err := PlanMove(context.Background(), MoveOptions{Src: dom, VolumeDir: small, Jobs: 2})
	if errs.KindOf(err) != errs.Refused || !strings.Contains(err.Error(), "not enough space") ||
		!strings.Contains(err.Error(), "4096-byte blocks") {
		t.Fatalf("got %v, want a refusal for space in 4096-byte blocks", err)
	}
	tot, free := plan.Totals, int64(plan.Target.FreeBytes)
	if plan.Target.BlockSize != 4096 || tot.TargetBlockSize != 4096 {
		t.Errorf("target block size %d, estimate made for %d; want 4096", plan.Target.BlockSize, tot.TargetBlockSize)
	}
	if old := oldEstimate(tot); old >= free {
		t.Fatalf("test setup: the source's blocks (%d bytes with the margin) do not fit in %d free either", old, free)
	}
	if least := tot.Files * 4096; tot.TargetBytes < least {
		t.Errorf("estimate %d bytes for %d files of 300 to 900 bytes on 4096-byte blocks, want %d at least", tot.TargetBytes, tot.Files, least)
	}
	t.Logf("%d files: %d bytes allocated on the source; needs %d on the target (%d with the margin), %d free",
		tot.Files, tot.Allocated, tot.TargetBytes, plan.NeedBytes, free)
	assertUntouched(t, dom, keep, small)

	// The refusal was right: without the check the copy fills the target.
	_, err = runMove(t, dom, small, func(o *MoveOptions) { o.skipSpaceCheck = true })
	if errs.KindOf(err) != errs.Failed || !strings.Contains(err.Error(), "out of space") {
		t.Fatalf("got %v, want the copy to run out of space", err)
	}
	assertUntouched(t, dom, keep, small)
}

// The same files written on 4 KiB blocks take a quarter of that on a
// 1 KiB-block target: the estimate is made for 1024-byte blocks, not
// taken from the source's blocks, and the move to a volume the source's
// blocks would not fit on goes through.
func TestSpaceEstimateSmallerTargetBlocks(t *testing.T) {
	needRoot(t)
	base := newBase(t, "ext4")
	dom := filepath.Join(base, "Domains", "example.test")
	smallMessages(t, dom, 20, 100)
	keep := pristine(t, dom)
	tgt := testfs.Mount(t, 12, "mkfs.ext4", "-q", "-b", "1024", "-N", "4000")

	plan, err := PlanMove(context.Background(), MoveOptions{Src: dom, VolumeDir: tgt, Jobs: 2})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	tot := plan.Totals
	if tot.TargetBlockSize != 1024 {
		t.Errorf("estimate made for %d-byte blocks, want 1024", tot.TargetBlockSize)
	}
	on4k, _ := tot.NeedOn(4096)
	if tot.TargetBytes*2 > on4k || tot.TargetBytes*2 > tot.Allocated {
		t.Errorf("estimate on 1024-byte blocks %d bytes, on 4096-byte blocks %d, source allocated %d: want well under both",
			tot.TargetBytes, on4k, tot.Allocated)
	}
	t.Logf("%d files: %d bytes allocated on the source; needs %d on the target (%d with the margin), %d free",
		tot.Files, tot.Allocated, tot.TargetBytes, plan.NeedBytes, plan.Target.FreeBytes)
	if old := oldEstimate(tot); old <= int64(plan.Target.FreeBytes) {
		t.Fatalf("test setup: the source's blocks (%d bytes with the margin) fit in %d free", old, plan.Target.FreeBytes)
	}
	if _, err := runMove(t, dom, tgt); err != nil {
		t.Fatalf("move: %v", err)
	}
	assertMoved(t, dom, filepath.Join(tgt, "Domains", "example.test"), keep)
}

// The estimate for each block size, entry by entry.
func TestOnTargetRounding(t *testing.T) {
	at := func(o onTarget, b int64) int64 {
		var tt Totals
		tt.need = o
		n, got := tt.NeedOn(b)
		if got != b {
			t.Fatalf("NeedOn(%d) made for %d", b, got)
		}
		return n
	}
	var o onTarget
	o.addFile(100, 512, 1024) // inline data: counted whole
	o.addFile(0, 0, 4096)
	if a, b := at(o, 1024), at(o, 4096); a != 1024 || b != 4096 {
		t.Errorf("100-byte file: %d on 1 KiB blocks, %d on 4 KiB, want 1024 and 4096", a, b)
	}
	o = onTarget{}
	o.addFile(5000, 12288, 4096) // one 4 KiB block past its data (an attribute block)
	if a, b := at(o, 1024), at(o, 4096); a != 5120+4096 || b != 8192+4096 {
		t.Errorf("5000-byte file with an extra block: %d and %d", a, b)
	}
	o = onTarget{}
	o.addFile(8<<20, 2048, 1024) // sparse, two 1 KiB blocks allocated
	if a, b := at(o, 1024), at(o, 4096); a != 2048 || b != 8192 {
		t.Errorf("sparse file: %d on 1 KiB blocks, %d on 4 KiB, want 2048 and 8192", a, b)
	}
	o = onTarget{}
	o.addFile(8<<20, 64<<10, 4096) // sparse, on blocks larger than the target's
	if a := at(o, 1024); a != 64<<10 {
		t.Errorf("sparse file to smaller blocks: %d, want its allocated 65536", a)
	}
	o = onTarget{}
	o.addDir(nil)
	o.addLink(20, 0)
	o.addLink(100, 0)
	if a, b := at(o, 1024), at(o, 4096); a != 1024+1024 || b != 4096+4096 {
		t.Errorf("empty directory and two links: %d and %d", a, b)
	}
	var tt Totals
	tt.need[0], tt.need[len(tt.need)-1] = 1, 2
	if n, b := tt.NeedOn(1); n != 1 || b != 512 {
		t.Errorf("NeedOn(1) = %d for %d, want the 512 figure", n, b)
	}
	tt.need[3] = 3
	if n, b := tt.NeedOn(64 << 10); n != 2 || b != 64<<10 {
		t.Errorf("NeedOn(64 KiB) = %d for %d, want the 64 KiB figure", n, b)
	}
	if n, b := tt.NeedOn(1 << 20); n != 3 || b != 4096 {
		t.Errorf("NeedOn(1 MiB), a transfer size = %d for %d, want the 4 KiB figure", n, b)
	}
	if n, b := tt.NeedOn(3000); n != 3 || b != 4096 {
		t.Errorf("NeedOn(3000) = %d for %d, want the 4 KiB figure", n, b)
	}
}
