package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/pflag"

	"github.com/cgscale/cgscale/errs"
)

// Progress is drawn by exactly one goroutine, which polls counters that the
// workers update atomically. Workers never touch the bar. On a terminal it
// is a bar on stderr; elsewhere it is silent unless --progress=always, which
// prints an occasional plain line (no carriage returns, no escape codes).

// progressFlag adds --progress to fs and returns where its value lands.
func progressFlag(fs *pflag.FlagSet) *string {
	return fs.String("progress", "auto", "progress on stderr: auto (only on a terminal), always, never")
}

// progressPoll reports work done so far and the total (0 when unknown yet).
type progressPoll func() (done, total int64)

// startProgress starts the progress reporter and returns a function that
// stops it and leaves the cursor on a fresh line. mode is the --progress value.
func (e *env) startProgress(mode, desc string, poll progressPoll) (stop func(), err error) {
	var interval time.Duration
	var draw func(done, total int64)
	var finish func()
	switch mode {
	case "never":
		return func() {}, nil
	case "auto", "always":
		if mode == "auto" && !e.stderrTTY {
			return func() {}, nil
		}
	default:
		return nil, errs.Errorf(errs.Usage, "", "", "use auto, always or never", "--progress %q is not a mode", mode)
	}
	if e.stderrTTY {
		interval = 150 * time.Millisecond
		bar := progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(e.stderr),
			progressbar.OptionSetDescription(desc),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("entries"),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionClearOnFinish(),
		)
		max := int64(-1)
		draw = func(done, total int64) {
			if total > 0 && total != max {
				max = total
				bar.ChangeMax64(total)
			}
			_ = bar.Set64(done)
		}
		finish = func() {
			_ = bar.Finish()
			_ = bar.Close()
		}
	} else {
		interval = 5 * time.Second
		start := time.Now()
		draw = func(done, total int64) { plainProgress(e.stderr, desc, done, total, time.Since(start)) }
		finish = func() {}
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-quit:
				done, total := poll()
				if e.stderrTTY {
					draw(done, total)
				}
				finish()
				return
			case <-t.C:
				draw(poll())
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(quit); wg.Wait() }) }, nil
}

func plainProgress(w io.Writer, desc string, done, total int64, elapsed time.Duration) {
	if total > 0 {
		fmt.Fprintf(w, "%s: %d of %d (%.0f%%) after %s\n", desc, done, total, 100*float64(done)/float64(total), elapsed.Round(time.Second))
		return
	}
	fmt.Fprintf(w, "%s: %d after %s\n", desc, done, elapsed.Round(time.Second))
}
