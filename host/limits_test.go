package host

import (
	"strings"
	"testing"
)

func TestExecutionLimit(t *testing.T) {
	var none *ExecutionLimit
	if err := none.acquire(); err != nil {
		t.Fatalf("no limit: %v", err)
	}
	none.release()
	l := NewExecutionLimit(2)
	for i := range 2 {
		if err := l.acquire(); err != nil {
			t.Fatalf("slot %d of 2: %v", i, err)
		}
	}
	if err := l.acquire(); err == nil || !strings.Contains(err.Error(), "limit of 2 executions") {
		t.Fatalf("a third of 2: %v", err)
	}
	l.release()
	if err := l.acquire(); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	if NewExecutionLimit(0).acquire() != nil {
		t.Fatal("a limit below 1 is 1")
	}
}
