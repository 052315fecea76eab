package testwasm

import (
	"fmt"
	"testing"
)

// GoPath is Go for code that has no testing.TB, such as Example functions
// and TestMain: it returns the built module's path or the error that Go
// would have failed the test with.
func GoPath(name string) (path string, err error) {
	err = withoutTB(func(t testing.TB) { path = Go(t, name) })
	return path, err
}

// AgentPath is Agent without a testing.TB.
func AgentPath() (path string, err error) {
	err = withoutTB(func(t testing.TB) { path = Agent(t) })
	return path, err
}

// failTB is the part of testing.TB that the builders use: Helper and
// Fatalf. Fatalf unwinds the builder with a panic that withoutTB recovers;
// any other method panics on the nil embedded TB and is reported the same way.
type failTB struct {
	testing.TB
}

// failed is the panic value of failTB.Fatalf.
type failed struct{ msg string }

func (failTB) Helper() {}

func (failTB) Fatalf(format string, args ...any) { panic(failed{fmt.Sprintf(format, args...)}) }

func (failTB) Fatal(args ...any) { panic(failed{fmt.Sprint(args...)}) }

func withoutTB(fn func(t testing.TB)) (err error) {
	defer func() {
		switch r := recover().(type) {
		case nil:
		case failed:
			err = fmt.Errorf("%s", r.msg)
		default:
			err = fmt.Errorf("testwasm: %v", r)
		}
	}()
	fn(failTB{})
	return nil
}
