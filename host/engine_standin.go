// Stand-in for the process-wide engine until the warm-core branch lands; delete on merge.

package host

import "context"

// Engine is the runtime and module store an agent process shares among
// the connections it serves. This stand-in holds nothing: every Serve
// keeps its own, as before.
type Engine struct{}

// NewEngine returns an Engine for agents of cfg.
func NewEngine(ctx context.Context, cfg Config) (*Engine, error) { return &Engine{}, nil }

// Close releases the engine's runtime and modules.
func (e *Engine) Close(ctx context.Context) error { return nil }

// WithEngine has Serve use e, shared, instead of a runtime of its own.
func (c Config) WithEngine(e *Engine) Config { return c }

// WithTenant names whose connection this is: nothing made under one
// tenant is used for another.
func (c Config) WithTenant(tenant string) Config { return c }
