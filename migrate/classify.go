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

// Classify decides from its path alone whether path is a directory that
// can be relocated: BASE/Domains/<domain>, a *.sub directory below Domains/
// (domain subdirectories) or inside a domain or Accounts/ (account
// subdirectories), or a *.mnt directory directly inside a domain or
// Accounts/. The base is the nearest ancestor holding Domains/ or Accounts/.
func Classify(path string) (Relocatable, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Relocatable{}, errs.New(errs.BadInput, "resolve", path, err, "")
	}
	comps := strings.Split(strings.TrimPrefix(abs, "/"), "/")
	top := -1
	for i := len(comps) - 1; i >= 0; i-- {
		if comps[i] == layout.DomainsDir || comps[i] == layout.AccountsDir {
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
	r := Relocatable{Path: abs, Base: "/" + strings.Join(comps[:top], "/"), Rel: strings.Join(comps[top:], "/")}
	inDomain := rest
	if comps[top] == layout.DomainsDir {
		j := 0
		for j < len(rest) && strings.HasSuffix(rest[j], layout.SubSuffix) {
			j++
		}
		if j == len(rest) {
			r.Kind = KindSubdirectory
			return r, nil
		}
		if isAccountOrMount(rest[j]) || rest[j] == layout.SettingsDir {
			return refuse(rest[j] + " is not a domain name")
		}
		if j == len(rest)-1 {
			r.Kind = KindDomain
			return r, nil
		}
		inDomain = rest[j+1:]
	}
	k := 0
	if strings.HasSuffix(inDomain[0], layout.MntSuffix) {
		if len(inDomain) == 1 {
			r.Kind = KindMountPoint
			return r, nil
		}
		k = 1
	}
	for _, c := range inDomain[k:] {
		if !strings.HasSuffix(c, layout.SubSuffix) {
			return refuse(c + " is not a *.sub directory (accounts and mailboxes move with their subdirectory or domain)")
		}
	}
	r.Kind = KindSubdirectory
	return r, nil
}

func isAccountOrMount(name string) bool {
	for _, s := range []string{layout.MacntSuffix, layout.MboxSuffix, layout.MdirSuffix, layout.MntSuffix, layout.SettingsSuffix, layout.InfoSuffix} {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}
