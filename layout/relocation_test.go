package layout

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cgscale/cgscale/internal/testfs"
)

func relocByLink(t *testing.T, r *Report, link string) Relocation {
	t.Helper()
	for _, rl := range r.Relocations {
		if rl.Link == link {
			return rl
		}
	}
	t.Fatalf("no relocation recorded for %s: %+v", link, r.Relocations)
	return Relocation{}
}

func findingFor(r *Report, id, subject string) *Finding {
	for i, f := range r.Findings {
		if f.ID == id && f.Subject == subject {
			return &r.Findings[i]
		}
	}
	return nil
}

// Relocation links: followed once onto another volume, dangling ones and
// loops reported, links back into the store and to a mount point flagged.
func TestWalkRelocationLinks(t *testing.T) {
	base := t.TempDir()
	v2 := testfs.Scratch(t, "tmpfs") // another device
	mnt := testfs.Mount(t, 4, "tmpfs")
	build(t, v2, "big.test/u1.macnt/INBOX.mbox", "big.test/j.sub/jo.macnt/", "pj/jack.macnt/", "pj/jill.macnt/")
	build(t, mnt, "u.macnt/")
	build(t, base,
		"Domains/flat.test/a.macnt/",
		"Domains/big.test -> "+filepath.Join(v2, "big.test"),
		"Domains/twin.test -> "+filepath.Join(v2, "big.test"),
		"Domains/gone.test -> /nonexistent/cgscale/gone.test",
		"Domains/alias.test -> flat.test",
		"Domains/p.test/k.sub/kim.macnt/",
		"Domains/p.test/j.sub -> "+filepath.Join(v2, "pj"),
		"Domains/p.test/self.sub -> ..",
		"Domains/p.test/m.mnt -> "+mnt,
	)
	r, err := Walk(t.Context(), base, WalkOptions{Jobs: 4})
	if err != nil {
		t.Fatal(err)
	}
	var baseDev uint64
	for _, d := range r.Domains {
		if d.Name == "flat.test" {
			baseDev = d.Device
		}
	}
	big := domainByName(t, r, "big.test")
	if big.Accounts != 2 || big.Relocated != "yes" || big.Device == baseDev || big.Device == 0 {
		t.Errorf("big.test: %d accounts, relocated %q, device %d (base %d); want 2, yes, the second volume", big.Accounts, big.Relocated, big.Device, baseDev)
	}
	rl := relocByLink(t, r, filepath.Join(base, "Domains/big.test"))
	if rl.Status != "followed" || rl.Text != filepath.Join(v2, "big.test") || rl.Resolved != filepath.Join(v2, "big.test") || rl.Device != big.Device || rl.Kind != KindDomain {
		t.Errorf("big.test link %+v", rl)
	}
	p := domainByName(t, r, "p.test")
	if p.Accounts != 4 || p.Relocated != "partly" { // kim, jack, jill, u (in the mount point)
		t.Errorf("p.test: %d accounts, relocated %q; want 4, partly", p.Accounts, p.Relocated)
	}
	if rl := relocByLink(t, r, filepath.Join(base, "Domains/twin.test")); rl.Status != "loop" {
		t.Errorf("second link to one directory: status %q, want loop", rl.Status)
	} else if findingFor(r, RuleLinkLoop, rl.Link) == nil {
		t.Errorf("no %s finding for %s", RuleLinkLoop, rl.Link)
	}
	if d := domainByName(t, r, "twin.test"); d.Accounts != 0 {
		t.Errorf("twin.test counted %d accounts a second time", d.Accounts)
	}
	gone := relocByLink(t, r, filepath.Join(base, "Domains/gone.test"))
	if f := findingFor(r, RuleDanglingLink, gone.Link); gone.Status != "dangling" || f == nil || f.Severity != Critical {
		t.Errorf("dangling link %+v, finding %+v", gone, f)
	}
	for _, l := range []string{"Domains/alias.test", "Domains/p.test/self.sub"} {
		rl := relocByLink(t, r, filepath.Join(base, l))
		if rl.Status != "inside" || findingFor(r, RuleInsideLink, rl.Link) == nil {
			t.Errorf("%s: status %q, want inside with a %s finding", l, rl.Status, RuleInsideLink)
		}
	}
	m := relocByLink(t, r, filepath.Join(base, "Domains/p.test/m.mnt"))
	if !m.OnMountPoint || m.Status != "followed" || findingFor(r, RuleMountPoint, m.Link) == nil {
		t.Errorf("link to a mount point: %+v; want followed, on_mount_point, finding %s", m, RuleMountPoint)
	}
	if f := findingFor(r, RuleMountPoint, filepath.Join(base, "Domains/p.test/j.sub")); f != nil {
		t.Errorf("a link into a subdirectory of a volume is not a mount-point link: %+v", f)
	}
	if r.Totals.Accounts != 1+2+4 {
		t.Errorf("total accounts %d, want 7", r.Totals.Accounts)
	}
	if r.Totals.Links != 7 {
		t.Errorf("relocation links %d, want 7", r.Totals.Links)
	}
	if _, err := os.Stat(filepath.Join(v2, "big.test/u1.macnt/INBOX.mbox")); err != nil {
		t.Fatal(err)
	}
}
