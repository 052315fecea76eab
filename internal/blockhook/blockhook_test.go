package blockhook

import (
	"context"
	"testing"
)

func TestEnter(t *testing.T) {
	Enter(context.Background())() // no counter: nothing to count, no panic
	c := new(Counter)
	ctx := With(context.Background(), c)
	leave1 := Enter(ctx)
	leave2 := Enter(context.WithoutCancel(ctx)) // a derived context counts too
	if got := c.Blocked(); got != 2 {
		t.Fatalf("Blocked() = %d after two Enters, want 2", got)
	}
	leave1()
	leave2()
	if got := c.Blocked(); got != 0 {
		t.Fatalf("Blocked() = %d after both left, want 0", got)
	}
}
