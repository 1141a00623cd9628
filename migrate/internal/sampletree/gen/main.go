// Command gen builds a sample domain for scripts/bench-move.sh and
// scripts/drill-move.sh:
//
//	go run ./migrate/internal/sampletree/gen -accounts 20000 BASE example.com
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/cgscale/cgscale/migrate/internal/sampletree"
)

func main() {
	var o sampletree.Options
	flag.IntVar(&o.Accounts, "accounts", 1000, "number of accounts")
	flag.BoolVar(&o.Subdirs, "subdirs", false, "put accounts into one-letter .sub directories")
	flag.BoolVar(&o.Owners, "owners", true, "give files numeric owners 1000-1006 (needs root)")
	flag.BoolVar(&o.Xattrs, "xattrs", true, "set user.* extended attributes on some entries")
	flag.Uint64Var(&o.Seed, "seed", 1, "random seed")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: gen [flags] BASE DOMAIN")
		os.Exit(2)
	}
	dom, err := sampletree.Domain(flag.Arg(0), flag.Arg(1), o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	fmt.Println(dom)
}
