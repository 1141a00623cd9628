package fsbench

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/cgscale/cgscale/errs"
)

// DefaultSizes are the directory sizes of a default sweep.
var DefaultSizes = []int{1000, 5000, 10000, 25000, 50000, 100000}

// DefaultWriters are the writer counts of a default writer sweep.
var DefaultWriters = []int{1, 2, 4, 8, 16, 32, 64}

// Options says what to measure and where. The zero value of each field
// means its default.
type Options struct {
	Dir        string        // the directory under which the scratch directory is made
	Sizes      []int         // directory sizes, ascending; empty: no lookup sweep
	Reps       int           // repetitions of each measurement (3)
	Samples    int           // lookups timed per repetition (1000); creates, removes and reads take a fifth
	KneeFactor float64       // the knee is where a lookup costs this many times the smallest size's (4)
	Cold       bool          // drop the kernel caches before each timed phase (needs root)
	Writers    []int         // writer counts, ascending; empty: no writer sweep
	WriterTime time.Duration // how long each writer count runs (2s)
	MsgSize    int           // bytes per delivered message (16 KiB)
	Accounts   int           // account directories the writers deliver into (500)
	Keep       bool          // leave the scratch directory in place
	Seed       uint64        // seed for names and random picks

	// Stage, when set, is called as each stage starts, with a counter the
	// benchmark advances; the returned function is called when the stage
	// ends. It is called from one goroutine, in order.
	Stage func(desc string, total int64, done *atomic.Int64) (end func())
	// Note, when set, receives remarks worth showing at once (for
	// example that caches cannot be dropped). They are also in Result.Notes.
	Note func(string)
}

func (o *Options) defaults() {
	if o.Reps <= 0 {
		o.Reps = 3
	}
	if o.Samples <= 0 {
		o.Samples = 1000
	}
	if o.KneeFactor <= 1 {
		o.KneeFactor = 4
	}
	if o.WriterTime <= 0 {
		o.WriterTime = 2 * time.Second
	}
	if o.MsgSize <= 0 {
		o.MsgSize = 16 << 10
	}
	if o.Accounts <= 0 {
		o.Accounts = 500
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
}

// stage starts a progress stage, if anyone listens.
func (o *Options) stage(desc string, total int64) (*atomic.Int64, func()) {
	done := new(atomic.Int64)
	if o.Stage == nil {
		return done, func() {}
	}
	return done, o.Stage(desc, total, done)
}

// Check validates the options without touching the disk.
func (o *Options) Check() error {
	if o.Dir == "" {
		return errs.Errorf(errs.Usage, "bench", "", "name the directory on the volume to measure", "no directory given")
	}
	if len(o.Sizes) == 0 && len(o.Writers) == 0 {
		return errs.Errorf(errs.Usage, "bench", "", "give --sizes or --writers", "nothing to measure")
	}
	for _, list := range []struct {
		name string
		v    []int
	}{{"--sizes", o.Sizes}, {"--writers", o.Writers}} {
		for i, n := range list.v {
			if n <= 0 {
				return errs.Errorf(errs.Usage, "bench", "", "use positive numbers", "%s: %d is not a positive count", list.name, n)
			}
			if i > 0 && n <= list.v[i-1] {
				return errs.Errorf(errs.Usage, "bench", "", "list them in increasing order, e.g. 1000,5000,10000", "%s must increase: %d after %d", list.name, n, list.v[i-1])
			}
		}
	}
	return nil
}

// Run measures what o asks for in a fresh scratch directory under o.Dir
// and removes that directory before returning (unless o.Keep). On an
// interrupt (ctx cancelled) or a full volume it returns what was measured
// so far together with the error; Result.Stopped says why it stopped.
func Run(ctx context.Context, o Options) (res *Result, err error) {
	o.defaults()
	if err := o.Check(); err != nil {
		return nil, err
	}
	res = &Result{
		Schema:  Schema,
		Dir:     o.Dir,
		Cache:   "warm",
		Started: time.Now().UTC().Format(time.RFC3339),
		Settings: Settings{
			Sizes: nonNil(o.Sizes), Reps: o.Reps, Samples: o.Samples, KneeFactor: o.KneeFactor,
			Writers: nonNil(o.Writers), WriterSecs: o.WriterTime.Seconds(), MsgSize: o.MsgSize, Accounts: o.Accounts,
		},
	}
	note := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		res.Notes = append(res.Notes, msg)
		if o.Note != nil {
			o.Note(msg)
		}
	}
	cold := false
	if o.Cold {
		ok, why := canDropCaches()
		if ok {
			cold = true
			res.Cache = "cold"
		} else {
			note("cannot drop the kernel caches (%s): run as root for --cold; results are labelled warm", why)
		}
	}
	start := time.Now()
	id, err := Identify(o.Dir, IdentifyOptions{})
	if err != nil {
		return nil, err
	}
	res.Filesystem = id
	sc, err := NewScratch(o.Dir)
	if err != nil {
		return nil, err
	}
	res.Scratch = sc.Path
	defer func() {
		res.Seconds = round2(time.Since(start).Seconds())
		if o.Keep {
			note("kept the scratch directory %s (--keep)", sc.Path)
			return
		}
		if rerr := sc.Remove(); rerr != nil && err == nil {
			err = rerr
		}
		res.Scratch = ""
	}()

	if len(o.Sizes) > 0 {
		err = lookupSweep(ctx, &o, sc.Path, o.Dir, cold, id.IsExt(), res)
		if len(res.Sizes) > 0 {
			res.Knee = FindKnee(res.Sizes, o.KneeFactor)
			res.Knee.applyLimit(res.DirLimit)
			last := res.Sizes[len(res.Sizes)-1]
			// Known from the superblock on ext; elsewhere (XFS with ftype=0,
			// some network filesystems) seen as a typed listing at least
			// three times slower than a names-only one, judged only on a
			// warm directory big enough to time.
			noTypes := id.IsExt() && id.FileType == No
			slowTyped := !cold && last.Entries >= 1000 && last.ListTypedPerSec > 0 && last.ListTypedPerSec*3 < last.ListNamesPerSec
			if noTypes || slowTyped {
				res.ListNeedsStat = true
				note("readdir gives no entry types on this volume: a walk pays one lstat per entry "+
					"(listing %d entries: %.0f/s with types, %.0f/s names only)", last.Entries, last.ListTypedPerSec, last.ListNamesPerSec)
			}
		}
		if err != nil {
			return res, stopped(res, err)
		}
	}
	if len(o.Writers) > 0 {
		res.Writers, err = writerSweep(ctx, &o, sc.Path, o.Dir)
		if err != nil {
			return res, stopped(res, err)
		}
	}
	return res, nil
}

// stopped records why the run ended early and gives an interrupt its kind.
func stopped(res *Result, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		res.Stopped = "interrupted"
		return errs.New(errs.Interrupted, "bench", res.Dir, fmt.Errorf("stopped before the end: %w", err), "the partial results are shown; the scratch directory was removed")
	}
	res.Stopped = err.Error()
	return err
}

func nonNil(v []int) []int {
	if v == nil {
		return []int{}
	}
	return v
}
