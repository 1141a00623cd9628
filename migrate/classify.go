package migrate

import (
	"path/filepath"
	"strings"

	"github.com/cgscale/cgscale/errs"
	"github.com/cgscale/cgscale/layout"
)

// What a relocatable directory is.
const (
	KindDomain       = "domain"
	KindSubdirectory = "subdirectory"
	KindMountPoint   = "mount point"
)

// Relocatable is a directory of a store that may live on another volume.
type Relocatable struct {
	Path string // absolute, clean
	Base string // the store base: the directory holding Domains/ (or Accounts/)
	Rel  string // Path relative to Base, e.g. "Domains/example.com"
	Kind string // KindDomain, KindSubdirectory or KindMountPoint
}

// relocatable says what the move calls a layout kind that may live on
// another volume; ok is false for any other kind.
func relocatable(k layout.Kind) (string, bool) {
	switch k {
	case layout.KindDomain:
		return KindDomain, true
	case layout.KindDomainSub, layout.KindAccountSub:
		return KindSubdirectory, true
	case layout.KindMnt:
		return KindMountPoint, true
	}
	return "", false
}

// Classify decides from its path alone whether path is a directory that
// can be relocated: a domain directory, a domain or account subdirectory
// (*.sub) or a storage mount point (*.mnt). The base is the nearest
// ancestor holding Domains/ or Accounts/; each component below it is
// classified by the walker's own rule (layout.ClassifyDir), and every one
// must be a domain, a subdirectory or a mount point.
func Classify(path string) (Relocatable, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Relocatable{}, errs.New(errs.BadInput, "resolve", path, err, "")
	}
	comps := strings.Split(strings.TrimPrefix(abs, "/"), "/")
	top := -1
	for i := len(comps) - 1; i >= 0; i-- {
		if k := layout.ClassifyDir(layout.KindBase, comps[i]); k == layout.KindDomains || k == layout.KindMainDomain {
			top = i
			break
		}
	}
	refuse := func(why string) (Relocatable, error) {
		return Relocatable{}, errs.Errorf(errs.Refused, "classify", abs,
			"give a domain directory (BASE/Domains/NAME), a *.sub or a *.mnt directory of a store",
			"not a relocatable directory of a store: %s", why)
	}
	if top < 0 {
		return refuse("no Domains/ or Accounts/ above it")
	}
	rest := comps[top+1:]
	if len(rest) == 0 {
		return refuse("it is the " + comps[top] + " directory itself; move its domains or subdirectories")
	}
	kind := layout.ClassifyDir(layout.KindBase, comps[top])
	for _, c := range rest {
		kind = layout.ClassifyDir(kind, c)
		if _, ok := relocatable(kind); !ok {
			return refuse(c + " is " + article(kind) + ", not a domain, *.sub or *.mnt directory (accounts and mailboxes move with their subdirectory or domain)")
		}
	}
	name, _ := relocatable(kind)
	return Relocatable{Path: abs, Base: "/" + strings.Join(comps[:top], "/"), Rel: strings.Join(comps[top:], "/"), Kind: name}, nil
}

// article names a kind for a message: "an account", "a domain-settings".
func article(k layout.Kind) string {
	switch k {
	case layout.KindAccount, layout.KindMboxAccount, layout.KindAccountSibling:
		return "an account"
	case layout.KindDomainSettings:
		return "a domain's Settings"
	case layout.KindMailboxDir:
		return "a mailbox"
	}
	return "another kind of entry"
}
