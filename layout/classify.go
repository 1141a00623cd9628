package layout

import (
	"bytes"
	"fmt"
)

// Kind says what an entry of the store is. The walker decides it from the
// entry's name, its type, and the kind of the directory that holds it.
type Kind uint8

const (
	KindOther          Kind = iota // anything else: counted, walked if a directory, never interpreted
	KindBase                       // the base directory
	KindMainDomain                 // Accounts/ in the base: the Main Domain's accounts
	KindDomains                    // Domains/ in the base
	KindQueue                      // Queue/ in the base
	KindDomain                     // a secondary domain's directory
	KindDomainSub                  // a *.sub directory that holds domains
	KindAccountSub                 // a *.sub directory that holds accounts
	KindMnt                        // a *.mnt storage mount point that holds accounts
	KindDomainSettings             // a domain's Settings/ directory (not an account)
	KindAccount                    // <name>.macnt: a multi-mailbox account directory
	KindMboxAccount                // <name>.mbox at account level: a single-mailbox account (file or directory)
	KindAccountSibling             // <name>.settings or <name>.info beside a single-mailbox account
	KindMailboxDir                 // a mailbox directory inside an account (*.mdir, or a *.mbox directory)
)

var kindNames = [...]string{
	KindOther:          "other",
	KindBase:           "base",
	KindMainDomain:     "main-domain",
	KindDomains:        "domains",
	KindQueue:          "queue",
	KindDomain:         "domain",
	KindDomainSub:      "domain-subdir",
	KindAccountSub:     "account-subdir",
	KindMnt:            "mount-point",
	KindDomainSettings: "domain-settings",
	KindAccount:        "account",
	KindMboxAccount:    "mbox-account",
	KindAccountSibling: "account-sibling",
	KindMailboxDir:     "mailbox",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "other"
}

// MarshalText writes the kind's name, so JSON reports carry words.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads a kind's name back.
func (k *Kind) UnmarshalText(b []byte) error {
	for i, n := range kindNames {
		if n == string(b) {
			*k = Kind(i)
			return nil
		}
	}
	return fmt.Errorf("unknown kind %q", b)
}

// IsAccount reports whether entries of kind k are accounts.
func (k Kind) IsAccount() bool { return k == KindAccount || k == KindMboxAccount }

// holdsAccounts reports whether directories of kind k hold account entries.
func (k Kind) holdsAccounts() bool {
	return k == KindDomain || k == KindMainDomain || k == KindAccountSub || k == KindMnt
}

// holdsDomains reports whether directories of kind k hold domain directories.
func (k Kind) holdsDomains() bool { return k == KindDomains || k == KindDomainSub }

// isContainer reports whether k is a directory of the store's skeleton
// (base, domains, subdirectories, mount points): the places where a
// symbolic link is a relocation link and is followed once.
func (k Kind) isContainer() bool {
	switch k {
	case KindBase, KindMainDomain, KindDomains, KindDomain, KindDomainSub, KindAccountSub, KindMnt:
		return true
	}
	return false
}

var (
	bMacnt    = []byte(MacntSuffix)
	bMbox     = []byte(MboxSuffix)
	bMdir     = []byte(MdirSuffix)
	bMnt      = []byte(MntSuffix)
	bSub      = []byte(SubSuffix)
	bSettings = []byte(SettingsSuffix)
	bInfo     = []byte(InfoSuffix)
)

// hasSuffix reports whether name is suffix preceded by at least one byte.
func hasSuffix(name, suffix []byte) bool {
	return len(name) > len(suffix) && bytes.HasSuffix(name, suffix)
}

// classify returns the kind of the entry name, of type typ (typeDir,
// typeFile, typeLink or typeOther; never typeUnknown: the walker learns the
// type first), found in a directory of kind parent. A link is classified by
// its name where the layout allows a link (relocated domains,
// subdirectories, mount points; linked accounts); the walker decides
// whether to follow it.
func classify(parent Kind, name []byte, typ uint8) Kind {
	isDir := typ == typeDir
	dirOrLink := isDir || typ == typeLink
	switch parent {
	case KindBase:
		if !dirOrLink {
			return KindOther
		}
		switch string(name) {
		case AccountsDir:
			return KindMainDomain
		case DomainsDir:
			return KindDomains
		case QueueDir:
			return KindQueue
		}
		return KindOther
	case KindDomains, KindDomainSub:
		if !dirOrLink || name[0] == '.' {
			return KindOther
		}
		if hasSuffix(name, bSub) {
			return KindDomainSub
		}
		return KindDomain
	case KindDomain, KindMainDomain, KindAccountSub, KindMnt:
		if parent == KindDomain && isDir && string(name) == SettingsDir {
			return KindDomainSettings
		}
		switch {
		case dirOrLink && hasSuffix(name, bMacnt):
			return KindAccount
		case typ != typeOther && hasSuffix(name, bMbox):
			return KindMboxAccount
		case dirOrLink && hasSuffix(name, bSub):
			return KindAccountSub
		case dirOrLink && hasSuffix(name, bMnt):
			return KindMnt
		case !isDir && (hasSuffix(name, bSettings) || hasSuffix(name, bInfo)):
			return KindAccountSibling
		}
		return KindOther
	case KindAccount:
		if isDir && (hasSuffix(name, bMbox) || hasSuffix(name, bMdir)) {
			return KindMailboxDir
		}
	}
	return KindOther
}

// ClassifyDir returns the kind of a directory (or a link to one) named
// name inside a directory of kind parent: the walker's rule, for callers
// that know a path but have not listed it (start from KindBase for the
// components below a store's base).
func ClassifyDir(parent Kind, name string) Kind {
	if name == "" {
		return KindOther
	}
	return classify(parent, []byte(name), typeDir)
}

// bareName strips the kind's suffix from an account entry's name:
// "jsmith" for "jsmith.macnt" and "jsmith.mbox".
func bareName(name []byte, k Kind) []byte {
	switch k {
	case KindAccount:
		return name[:len(name)-len(bMacnt)]
	case KindMboxAccount:
		return name[:len(name)-len(bMbox)]
	}
	return name
}
