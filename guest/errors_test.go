package guest

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/wasmnet/wasmnet/abi"
)

func TestResultError(t *testing.T) {
	tests := []struct {
		r      abi.Result
		is     error
		substr string
	}{
		{abi.ErrClosed, ErrClosed, "guest: send on channel 3: channel closed"},
		{abi.ErrTimeout, ErrTimeout, "guest: send on channel 3: receive timed out"},
		{abi.ErrTooLarge, nil, "too large (result -3)"},
		{abi.ErrUnknown, nil, "unknown channel (result -4)"},
		{abi.ErrBadValue, nil, "bad value (result -6)"},
		{abi.ErrMemory, nil, "memory out of range (result -7)"},
		{abi.ErrUnavailable, nil, "unavailable (result -8)"},
		{-42, nil, "result -42"},
	}
	for _, tt := range tests {
		err := resultError("send", 3, tt.r)
		if err == nil {
			t.Errorf("%d: nil error", tt.r)
			continue
		}
		if !strings.HasPrefix(err.Error(), "guest: send on channel 3: ") || !strings.Contains(err.Error(), tt.substr) {
			t.Errorf("%d: error %q, want it to contain %q", tt.r, err, tt.substr)
		}
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("%d: errors.Is(%v, %v) = false", tt.r, err, tt.is)
		}
	}
	for _, r := range []abi.Result{abi.Ok, 5} {
		if err := resultError("send", 3, r); err != nil {
			t.Errorf("%d: %v, want nil", r, err)
		}
	}
	if err := resultError("open channel", -1, abi.ErrUnavailable); err.Error() != "guest: open channel: unavailable (result -8)" {
		t.Errorf("open: %q", err)
	}
}

func TestTimeoutError(t *testing.T) {
	err := resultError("receive", 1, abi.ErrTimeout)
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("%v does not match ErrTimeout and os.ErrDeadlineExceeded", err)
	}
	var to interface{ Timeout() bool }
	if !errors.As(err, &to) || !to.Timeout() {
		t.Errorf("%v has no Timeout() true", err)
	}
	if errors.Is(resultError("receive", 1, abi.ErrClosed), ErrTimeout) {
		t.Error("closed matches ErrTimeout")
	}
}

func TestRemoteError(t *testing.T) {
	var err error = &RemoteError{Message: "boom"}
	if err.Error() != "guest: remote error: boom" {
		t.Errorf("Error() = %q", err)
	}
}
