package errs

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
)

func TestErrorText(t *testing.T) {
	cases := []struct {
		e    *E
		want string
	}{
		{New(BadInput, "scan", "/var/CG", fs.ErrNotExist, "x"), "scan /var/CG: file does not exist"},
		{New(Refused, "", "", errors.New("server running"), ""), "server running"},
		{New(Partial, "", "", nil, ""), "partial"},
	}
	for _, c := range cases {
		if got := c.e.Error(); got != c.want {
			t.Errorf("Error() = %q, want %q", got, c.want)
		}
	}
}

func TestKindAndHintThroughWrapping(t *testing.T) {
	inner := New(Refused, "apply", "/s", errors.New("lock held"), "wait for the other apply")
	outer := fmt.Errorf("apply plan: %w", inner)
	if KindOf(outer) != Refused {
		t.Fatalf("KindOf = %v, want refused", KindOf(outer))
	}
	if HintOf(outer) != "wait for the other apply" {
		t.Fatalf("HintOf = %q", HintOf(outer))
	}
	if KindOf(errors.New("plain")) != Failed {
		t.Fatal("a plain error must be Failed")
	}
	if !errors.Is(outer, inner) {
		t.Fatal("wrapping lost the inner error")
	}
}
