package main

// Exit statuses of wasmnet, listed in README ("Exit status").
const (
	exitOK          = 0   // every gateway answered
	exitFailure     = 1   // the run failed: a guest error, or no answer
	exitUsage       = 2   // a bad flag, argument or spec
	exitPartial     = 3   // an answer, from fewer gateways than were asked for
	exitTimeout     = 124 // --timeout ran out, as coreutils' timeout
	exitInterrupted = 130 // SIGINT or SIGTERM
)
