package assistant

import (
	"errors"

	"github.com/parley-chat/parley/chat"
)

// Fanout shares what one node knows of its replies with the other nodes
// of a cluster (Config.Fanout; package cluster implements it over NATS):
// the text so far of the answers it streams, so that every node shows
// them (chat.Streams), and the stops of replies, so that a takeover, a
// hand-off or a close committed on any node stops the reply on the node
// that runs it. Nil Config.Fanout means one node: nothing is shared.
// Implementations are safe for concurrent use and do not wait for the
// network in Publish or Cancel.
type Fanout interface {
	// Publish tells the other nodes that the stream of message msgID is
	// text and parts so far (text only grows; parts are only appended);
	// done at its end, once, with the whole text. It is called at most
	// every FlushInterval per stream, when the stream grew.
	Publish(msgID, text string, parts []chat.MessagePart, done bool)
	// Partial is the text and parts so far of a stream another node
	// streams (or streamed lately), false when none is known.
	Partial(msgID string) (text string, parts []chat.MessagePart, ok bool)
	// Cancel asks the other nodes to stop the reply streaming in
	// conversation convID, for cause (a Cause code).
	Cancel(convID, cause string)
	// Subscribe has grew told of every stream of another node that grew
	// or ended (the service re-runs the queries that show it), and cancel
	// of every Cancel of another node. New calls it once.
	Subscribe(grew func(msgID string), cancel func(convID, cause string))
}

// Cause codes: why a reply was stopped, as Fanout.Cancel carries it to
// the node running it (which stops it with the same error, so that its
// end is written the same way: a takeover's partial answer is kept,
// marked interrupted "takeover").
const (
	CauseTakeover = "takeover"
	CauseHandoff  = "handoff"
	CauseClosed   = "closed"
	CauseLeft     = "left"
)

// causeCode is cause's code ("" for none of the service's).
func causeCode(cause error) string {
	switch {
	case errors.Is(cause, errTakeover):
		return CauseTakeover
	case errors.Is(cause, errHandoff):
		return CauseHandoff
	case errors.Is(cause, errClosed):
		return CauseClosed
	case errors.Is(cause, errLeft):
		return CauseLeft
	}
	return ""
}

// errUnknownCause stops a reply for a code this node does not know (a
// newer node's): the reply fails rather than runs on.
var errUnknownCause = errors.New("stopped by another node")

// causeError is the error of code.
func causeError(code string) error {
	switch code {
	case CauseTakeover:
		return errTakeover
	case CauseHandoff:
		return errHandoff
	case CauseClosed:
		return errClosed
	case CauseLeft:
		return errLeft
	}
	return errUnknownCause
}

// remoteGrew re-runs the queries showing msgID, a stream of another node
// that grew.
func (s *Service) remoteGrew(msgID string) {
	s.mu.Lock()
	f := s.invalidate
	s.mu.Unlock()
	if f != nil {
		f(chat.StreamDep(msgID))
	}
}

// remoteCancel stops the reply streaming in convID here, if it streams
// here, for another node's cause.
func (s *Service) remoteCancel(convID, code string) {
	s.cancelLocal(convID, causeError(code))
}
