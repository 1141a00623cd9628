package migrate

import (
	"context"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/cgscale/cgscale/errs"
	"github.com/cgscale/cgscale/internal/plural"
	"github.com/cgscale/cgscale/layout"
)

// Rescan is what the walk after apply found for the converted directories.
type Rescan struct {
	Checked   int      `json:"checked"`             // accounts (or domains) the plan moved, found in place
	Accounts  int64    `json:"accounts"`            // accounts now in the converted domains
	Flat      int64    `json:"flat"`                // of those, still directly in the domain directory
	Missing   []string `json:"missing,omitempty"`   // moved but not found where the scheme says
	Duplicate []string `json:"duplicate,omitempty"` // found more than once
}

// RescanPlan walks the store again with the layout walker and checks that
// every account (or domain) the plan moved is exactly once where its
// conversion's scheme puts it, and that no account is left flat in a
// converted domain.
func RescanPlan(ctx context.Context, p *Plan) (*Rescan, error) {
	type key struct{ dir, name string }
	want := map[key]string{} // -> expected path relative to the container
	schemes := map[string]layout.Scheme{}
	convByAbs := map[string]string{}
	domainsConv := ""
	for _, c := range p.Conversions {
		s, err := layout.ParseScheme(c.Scheme)
		if err != nil {
			return nil, errs.New(errs.Failed, "rescan", c.Dir, err, "")
		}
		schemes[c.Dir] = s
		if c.Entity == EntityDomains {
			domainsConv = c.Dir
		} else {
			convByAbs[filepath.Join(p.Base, filepath.FromSlash(c.Dir))] = c.Dir
		}
	}
	for _, op := range p.Ops {
		if op.Op != OpRename {
			continue
		}
		k := key{op.Dir, op.Account}
		if _, ok := want[k]; ok {
			continue // siblings follow the account entry, listed first
		}
		want[k] = strings.TrimPrefix(op.Target, op.Dir+"/")
	}
	found := map[key]int{}
	rs := &Rescan{}
	var mu sync.Mutex
	wo := layout.WalkOptions{OnAccount: func(a layout.Account) {
		dir, ok := convByAbs[a.DomainPath]
		if !ok {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		rs.Accounts++
		if !strings.Contains(a.Rel, "/") && !a.InMnt {
			rs.Flat++
		}
		k := key{dir, a.Name}
		if exp, ok := want[k]; ok && a.Rel == exp {
			found[k]++
		}
	}}
	rep, err := layout.Walk(ctx, p.Base, wo)
	if err != nil && errs.KindOf(err) != errs.Partial {
		return nil, err
	}
	if domainsConv != "" {
		for _, d := range rep.Domains {
			rel, ok := relTo(p.Base, d.Path)
			if !ok {
				continue
			}
			k := key{domainsConv, d.Name}
			if exp, ok := want[k]; ok && rel == path.Join(domainsConv, exp) {
				found[k]++
			}
		}
	}
	for k, exp := range want {
		switch n := found[k]; {
		case n == 1:
			rs.Checked++
		case n == 0:
			rs.Missing = append(rs.Missing, path.Join(k.dir, exp))
		default:
			rs.Duplicate = append(rs.Duplicate, path.Join(k.dir, exp))
		}
	}
	if len(rs.Missing) > 0 || len(rs.Duplicate) > 0 || rs.Flat > 0 {
		first := ""
		switch {
		case len(rs.Missing) > 0:
			first = "missing: " + rs.Missing[0]
		case len(rs.Duplicate) > 0:
			first = "found twice: " + rs.Duplicate[0]
		default:
			first = plural.N(rs.Flat, "account", "") + " still flat"
		}
		return rs, errs.Errorf(errs.Failed, "verify", p.Base, "run `cgscale scan` to see the store; `"+p.applyCmd("--undo")+"` goes back",
			"after apply, %d of %s not where the scheme puts them (%s)", len(rs.Missing)+len(rs.Duplicate), plural.N(len(want), "moved entry is", "moved entries are"), first)
	}
	if err != nil {
		return rs, err
	}
	return rs, nil
}
