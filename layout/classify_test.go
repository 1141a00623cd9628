package layout

import "testing"

func TestClassify(t *testing.T) {
	d, f, l, o := typeDir, typeFile, typeLink, typeOther
	cases := []struct {
		parent Kind
		name   string
		typ    uint8
		want   Kind
	}{
		{KindBase, "Accounts", d, KindMainDomain},
		{KindBase, "Domains", d, KindDomains},
		{KindBase, "Domains", l, KindDomains},
		{KindBase, "Domains", f, KindOther},
		{KindBase, "Queue", d, KindQueue},
		{KindBase, "Settings", d, KindOther},
		{KindBase, "ProcessID", f, KindOther},
		{KindDomains, "example.com", d, KindDomain},
		{KindDomains, "example.com", l, KindDomain},
		{KindDomains, "e.sub", d, KindDomainSub},
		{KindDomains, "e.sub", l, KindDomainSub},
		{KindDomains, "notes.txt", f, KindOther},
		{KindDomains, ".snapshot", d, KindOther},
		{KindDomainSub, "example.com", d, KindDomain},
		{KindDomainSub, "x.sub", d, KindDomainSub},
		{KindDomain, "Settings", d, KindDomainSettings},
		{KindDomain, "jsmith.macnt", d, KindAccount},
		{KindDomain, "jsmith.macnt", l, KindAccount},
		{KindDomain, "jsmith.macnt", f, KindOther},
		{KindDomain, ".macnt", d, KindOther},
		{KindDomain, "old.mbox", f, KindMboxAccount},
		{KindDomain, "old.mbox", d, KindMboxAccount},
		{KindDomain, "old.mbox", l, KindMboxAccount},
		{KindDomain, "old.mbox", o, KindOther},
		{KindDomain, "old.settings", f, KindAccountSibling},
		{KindDomain, "old.info", f, KindAccountSibling},
		{KindDomain, "old.info", d, KindOther},
		{KindDomain, "j.sub", d, KindAccountSub},
		{KindDomain, "j.sub", l, KindAccountSub},
		{KindDomain, "j.sub", f, KindOther},
		{KindDomain, "vol1.mnt", d, KindMnt},
		{KindDomain, "vol1.mnt", l, KindMnt},
		{KindDomain, "lost+found", d, KindOther},
		{KindMainDomain, "Settings", d, KindOther}, // only a secondary domain has Settings/
		{KindMainDomain, "postmaster.macnt", d, KindAccount},
		{KindAccountSub, "jsmith.macnt", d, KindAccount},
		{KindAccountSub, "s.sub", d, KindAccountSub},
		{KindAccountSub, "Settings", d, KindOther},
		{KindMnt, "jsmith.macnt", d, KindAccount},
		{KindMnt, "single.mbox", f, KindMboxAccount},
		{KindAccount, "INBOX.mbox", d, KindMailboxDir},
		{KindAccount, "INBOX.mbox", f, KindOther},
		{KindAccount, "Archive.mdir", d, KindMailboxDir},
		{KindAccount, "account.settings", f, KindOther},
		{KindAccount, "inner.macnt", d, KindOther},
		{KindMailboxDir, "1.msg", f, KindOther},
		{KindQueue, "x.macnt", d, KindOther},
		{KindOther, "x.macnt", d, KindOther},
	}
	for _, c := range cases {
		if got := classify(c.parent, []byte(c.name), c.typ); got != c.want {
			t.Errorf("classify(%s, %q, type %d) = %s, want %s", c.parent, c.name, c.typ, got, c.want)
		}
	}
}

func TestBareName(t *testing.T) {
	if got := string(bareName([]byte("jsmith.macnt"), KindAccount)); got != "jsmith" {
		t.Errorf("bareName macnt = %q", got)
	}
	if got := string(bareName([]byte("a.b.mbox"), KindMboxAccount)); got != "a.b" {
		t.Errorf("bareName mbox = %q", got)
	}
}
