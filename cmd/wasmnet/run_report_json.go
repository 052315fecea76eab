package main

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"time"
)

// With --json, run's standard output carries everything a script needs,
// one JSON object a line, each with a "type": "item" and "count" records
// as they come, then, once the run is over, an "error" for every guest
// that failed (and one without "gateway" for the run itself), a "lost"
// for every gateway lost, an "unreachable" for every gateway that did not
// start, and last one "summary". The summary table and the messages still
// go to stderr for whoever watches.

// gatewayJSON is one gateway in the summary record.
type gatewayJSON struct {
	Gateway   string `json:"gateway"`
	Items     int    `json:"items"`
	SentBytes int64  `json:"sent_bytes"`
	TimeNanos int64  `json:"time_ns"`
	Status    string `json:"status"` // ok, error, lost, running
	Redealt   int    `json:"redealt,omitempty"`
}

// gatewayRecord is an "error", "lost" or "unreachable" record; an "error"
// without gateway is the run's own.
type gatewayRecord struct {
	Type    string `json:"type"`
	Gateway string `json:"gateway,omitempty"`
	Spec    string `json:"spec,omitempty"`
	Error   string `json:"error"`
	Redealt *int   `json:"redealt,omitempty"` // lost: chunks dealt again to others
}

type summaryRecord struct {
	Type       string        `json:"type"` // "summary"
	Gateways   []gatewayJSON `json:"gateways"`
	ExitStatus int           `json:"exit_status"`
}

// unreachableGateway is a gateway that did not start.
type unreachableGateway struct {
	ID, Spec string
	Err      error
}

// printRecords writes the records of the run's end to w: runErr is what
// the run returned, exit what report made of it.
func (r *runState) printRecords(ctx context.Context, w io.Writer, runErr, exit error, unreachable []unreachableGateway) error {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	input := len(r.flags.inputs) > 0
	var recs []any
	for _, u := range unreachable {
		recs = append(recs, gatewayRecord{Type: "unreachable", Gateway: u.ID, Spec: u.Spec, Error: u.Err.Error()})
	}
	summary := make([]gatewayJSON, 0, len(r.stats))
	for _, s := range slices.Clone(r.stats) {
		g := gatewayJSON{Gateway: s.id, Items: s.items, SentBytes: s.sentBytes, Status: "ok", Redealt: s.redealt}
		end := s.end
		switch {
		case s.failed(input):
			g.Status = "error"
			recs = append(recs, gatewayRecord{Type: "error", Gateway: s.id, Error: s.err.Error()})
		case s.lost:
			g.Status = "lost"
			recs = append(recs, gatewayRecord{Type: "lost", Gateway: s.id, Error: s.err.Error(), Redealt: &s.redealt})
		case end.IsZero():
			g.Status, end = "running", now
		}
		g.TimeNanos = int64(end.Sub(s.start))
		summary = append(summary, g)
	}
	if msg := runError(ctx, runErr, r.flags.timeout); msg != "" {
		recs = append(recs, gatewayRecord{Type: "error", Error: msg})
	}
	recs = append(recs, summaryRecord{Type: "summary", Gateways: summary, ExitStatus: exitStatusOf(exit)})
	for _, rec := range recs {
		b, err := marshalJSON(rec)
		if err != nil {
			return err
		}
		if _, err := w.Write(append(b, '\n')); err != nil {
			return err
		}
	}
	return nil
}

// runError is the run's own failure, beside its guests': an interruption,
// a timeout, or an error that ended it; "" if none.
func runError(ctx context.Context, err error, timeout time.Duration) string {
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errInterrupted):
		return "interrupted; every agent was terminated"
	case errors.Is(cause, errTimedOut):
		return "run timed out after " + timeout.String() + "; every agent was terminated"
	case err != nil:
		return strings.TrimPrefix(err.Error(), "run: ")
	}
	return ""
}

// exitStatusOf is the status main exits with for err.
func exitStatusOf(err error) int {
	var code exitCode
	switch {
	case err == nil:
		return exitOK
	case asExitCode(err, &code):
		return int(code)
	}
	return exitStatus(err)
}
