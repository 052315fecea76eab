// Package wire holds the bodies of the requests that a wasmnet client and
// agent exchange over a channel.Mux with Call and Notify: what host serves
// and gateway makes. The channel package only carries them as opaque bytes,
// and users meet them only through gateway's API, so they are internal;
// PROTOCOL.md (in channel/) specifies them for other implementations.
package wire

import "time"

// Request kinds that clients and agents exchange with Call and Notify. The
// bodies are msgpack encodings of the structs below.
const (
	KindExec      uint8 = 1 // ExecRequest -> ExecReply
	KindModule    uint8 = 2 // ModuleUpload -> nothing
	KindStatus    uint8 = 3 // nothing -> Status
	KindTerminate uint8 = 4 // notify: the agent ends every execution and exits
	KindOutput    uint8 = 5 // notify, agent to client: Output
	KindDial      uint8 = 6 // DialRequest -> nothing; the channel becomes a byte stream
	KindCommand   uint8 = 7 // CommandRequest -> nothing; the channel carries the command's stdio
	KindRSync     uint8 = 8 // RSyncRequest -> nothing; the channel carries the transfer (PROTOCOL.md)
)

// The request kinds of the trace relay (WASMNET_DEBUG=2).
const (
	KindTraceOn uint8 = 9  // notify, client to agent, empty: send KindTrace lines from now on
	KindTrace   uint8 = 10 // notify, agent to client: TraceLine
)

// AgentNiceEnv, in the environment of `wasmnet agent`, asks it to lower
// its own priority by that many steps (0 to 19) before it serves, as a
// spec's nice= asks. The agent removes it from its environment, so the
// commands it runs for hops do not lower theirs again.
const AgentNiceEnv = "WASMNET_AGENT_NICE"

// ExecRequest starts a module on a channel the client opened.
type ExecRequest struct {
	Channel uint32 `msgpack:"channel"`
	Module  string `msgpack:"module"` // hex sha256 of the module bytes
	// Entry is the export to call instead of _start; a reactor's
	// _initialize runs first.
	Entry        string        `msgpack:"entry,omitempty"`
	Args         []string      `msgpack:"args,omitempty"`
	Env          []string      `msgpack:"env,omitempty"`
	MemoryLimit  uint64        `msgpack:"memory_limit,omitempty"` // bytes
	TimeLimit    time.Duration `msgpack:"time_limit,omitempty"`
	Walltime     bool          `msgpack:"walltime,omitempty"`  // grant the real clock
	Random       bool          `msgpack:"random,omitempty"`    // grant real randomness
	FakeClock    bool          `msgpack:"fakeclock,omitempty"` // deterministic clocks, sleeps return at once
	Dirs         []DirGrant    `msgpack:"dirs,omitempty"`
	MaxMessage   int           `msgpack:"max_message,omitempty"`
	OutputToPeer bool          `msgpack:"output,omitempty"` // forward stdout/stderr as Output notices
}

// DirGrant preopens a host directory for the guest.
type DirGrant struct {
	Host     string `msgpack:"host"`
	Guest    string `msgpack:"guest"`
	ReadOnly bool   `msgpack:"ro,omitempty"`
}

// ExecReply answers an ExecRequest. NeedModule asks the client to upload
// the module and ask again.
type ExecReply struct {
	NeedModule bool `msgpack:"need_module,omitempty"`
	// Warning is a line for the user about the agent, not the guest (a
	// compilation cache it cannot write), sent once per agent.
	Warning string `msgpack:"warning,omitempty"`
}

// ModuleUpload carries a module's bytes to the agent's store.
type ModuleUpload struct {
	Module string `msgpack:"module"` // hex sha256 of Bytes
	Bytes  []byte `msgpack:"bytes"`
}

// Output is a piece of a guest's stdout or stderr.
type Output struct {
	Channel uint32 `msgpack:"channel"`
	Stream  uint8  `msgpack:"stream"` // 1 stdout, 2 stderr
	Data    []byte `msgpack:"data"`
}

// Status is an agent's report on itself.
type Status struct {
	Version       string `msgpack:"version"`
	OS            string `msgpack:"os"`
	Arch          string `msgpack:"arch"`
	PID           int    `msgpack:"pid"`
	Cwd           string `msgpack:"cwd,omitempty"`        // the agent's working directory
	Executable    string `msgpack:"executable,omitempty"` // the agent's binary
	ABI           []int  `msgpack:"abi"`
	Channels      int    `msgpack:"channels"`
	Executing     int    `msgpack:"executing"`
	Executions    int64  `msgpack:"executions"`     // started since the agent began
	ModulesCached int    `msgpack:"modules_cached"` // compiled modules in memory
	Compilations  int64  `msgpack:"compilations"`   // compilations that produced new machine code
	CacheLoads    int64  `msgpack:"cache_loads"`    // modules loaded from the disk cache
	ModuleUploads int64  `msgpack:"module_uploads"` // modules received from clients
	UploadedBytes int64  `msgpack:"uploaded_bytes"` // their total size
	RSS           int64  `msgpack:"rss"`            // resident memory in bytes, where known
	HeapAlloc     int64  `msgpack:"heap_alloc"`     // Go heap in use
	UptimeNanos   int64  `msgpack:"uptime_ns"`
	CompileCache  string `msgpack:"compile_cache"` // the disk cache directory, if any
	ImageStarts   int64  `msgpack:"image_starts"`  // executions restored from an initialised image
	KeptStarts    int64  `msgpack:"kept_starts"`   // executions run on an instance kept from an earlier one
}

// TraceLine is one line of an agent's debug trace, relayed to a client
// that sent KindTraceOn (WASMNET_DEBUG=2).
type TraceLine struct {
	PID int    `msgpack:"pid"`
	Msg string `msgpack:"msg"`
}

// DialRequest asks a hop agent to dial a TCP address and bridge it to a
// channel the client opened.
type DialRequest struct {
	Channel uint32 `msgpack:"channel"`
	Network string `msgpack:"network"`
	Address string `msgpack:"address"`
}

// CommandRequest asks a hop agent to run a command with its stdin and
// stdout bridged to a channel the client opened.
type CommandRequest struct {
	Channel uint32   `msgpack:"channel"`
	Argv    []string `msgpack:"argv"`
	Env     []string `msgpack:"env,omitempty"`
	Dir     string   `msgpack:"dir,omitempty"`
}

// RSyncRequest asks an agent to receive a directory tree into Dest over a
// channel the client opened: the client sends a manifest ([]RSyncEntry),
// the agent answers the paths it needs ([]string), the client sends each
// as {"path": p}, bin chunks and nil, or as {"path": p, "gone": true} when
// it vanished since it was listed, and the agent answers RSyncSummary and
// closes the channel. Dest is created if missing; a relative Dest is
// relative to the agent's working directory.
type RSyncRequest struct {
	Channel uint32 `msgpack:"channel"`
	Dest    string `msgpack:"dest"`
	Delete  bool   `msgpack:"delete,omitempty"` // remove what is under Dest but not in the manifest
}

// RSyncEntry is one file, directory or symbolic link of an RSync manifest.
// Path is relative to the tree's root, slash-separated and clean; each
// entry's parent directory precedes it in the manifest.
type RSyncEntry struct {
	Path   string `msgpack:"path"`
	Mode   uint32 `msgpack:"mode"` // permission bits
	Size   int64  `msgpack:"size"`
	SHA256 []byte `msgpack:"sha256,omitempty"` // 32 bytes, for files
	Dir    bool   `msgpack:"dir,omitempty"`
	Link   string `msgpack:"link,omitempty"` // a symbolic link's target
	// LinkBase says that Link is a clean relative path inside the tree:
	// the agent links to Dest/Link, as the source's absolute link pointed
	// into the source (execnet's "linkbase").
	LinkBase bool `msgpack:"linkbase,omitempty"`
}

// RSyncSummary is an agent's last message of an RSync: the files whose
// content it received, their bytes, and the paths it deleted.
type RSyncSummary struct {
	Files   int64 `msgpack:"files"`
	Bytes   int64 `msgpack:"bytes"`
	Deleted int64 `msgpack:"deleted"`
}
