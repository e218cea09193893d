package reactive

// SourceStatus is what a change source reports of itself for health
// checks. Fields are read one at a time, so they may straddle an event.
type SourceStatus struct {
	Connected    bool   // changes are streaming
	Slot         string // the replication slot read now (or last); "" when the source reads none
	ReceivedLSN  LSN    // WAL position of the last change received
	KeepaliveLSN LSN    // the upstream's WAL end at its last keepalive
	Reconnects   int64  // reconnect attempts since the source was made
	Resumes      int64  // reconnects that resumed a permanent slot (nothing re-run)
}

// StatusReporter is a ChangeSource that can say how it is doing. /healthz
// reads it (internal/server); a source that does not implement it is
// reported connected once the engine has applied its first Reset.
// Implementations must be safe for concurrent use.
type StatusReporter interface {
	Status() SourceStatus
}
