package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parley-chat/parley/reactive"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// follow applies the change stream to sink from where this node joined,
// re-attaching after failures. An ordered consumer delivers the stream in
// sequence and recreates itself after a reconnect from the last sequence
// it delivered; a sequence that does not follow the last one (the stream
// dropped messages this node never saw: it was away past Retention, or
// the stream was made anew) is a gap, and every live query re-runs.
func (s *Source) follow(ctx context.Context, sink reactive.ChangeSink) error {
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		err := s.followOnce(ctx, sink)
		s.follower.Store(false)
		if ctx.Err() != nil {
			return nil
		}
		s.log.Warn("cluster: following the change stream failed; retrying", slog.Any("err", err), slog.Duration("backoff", backoff))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
	return nil
}

func (s *Source) followOnce(ctx context.Context, sink reactive.ChangeSink) error {
	st, err := s.ensureStream(ctx)
	if err != nil {
		return err
	}
	start := s.lastSeq.Load() + 1
	if s.lastSeq.Load() > 0 {
		// Re-attaching: a stream that now ends before what this node saw
		// was made anew (a NATS server that lost its store), and its
		// messages would be skipped up to the old sequence. Start over.
		info, err := st.Info(ctx)
		if err != nil {
			return fmt.Errorf("stream info: %w", err)
		}
		if had := s.lastSeq.Load(); info.State.LastSeq < had {
			s.gaps.Add(1)
			s.log.Warn("cluster: the change stream was made anew; every live query re-runs",
				slog.Uint64("had", had), slog.Uint64("now", info.State.LastSeq))
			err := s.do(ctx, false, func() error {
				s.lastSeq.Store(0)
				if s.started { // otherwise the first Reset, still to come, does it
					sink.Reset(reactive.LSN(s.lastLSN.Load()))
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	if s.lastSeq.Load() == 0 {
		// Joining: start after the stream's last message. The first Reset
		// re-runs every query on a snapshot taken after this point, so
		// what came before needs no delivery.
		info, err := st.Info(ctx)
		if err != nil {
			return fmt.Errorf("stream info: %w", err)
		}
		if last := info.State.LastSeq; last > 0 {
			m, err := st.GetMsg(ctx, last)
			if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
				return fmt.Errorf("read message %d: %w", last, err)
			}
			if m != nil {
				if lsn, err := msgLSN(m.Header); err == nil {
					s.lastLSN.Store(uint64(lsn))
				}
			}
			s.lastSeq.Store(last)
		}
		start = info.State.LastSeq + 1
	}
	return s.followFrom(ctx, sink, start)
}

// followFrom applies the stream from sequence start until ctx ends or
// the consumer fails.
func (s *Source) followFrom(ctx context.Context, sink reactive.ChangeSink, start uint64) error {
	cons, err := s.js.OrderedConsumer(ctx, s.stream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: start})
	if err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(512))
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	s.follower.Store(true)
	for {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("next: %w", err)
		}
		if err := s.do(ctx, true, func() error { return s.apply(ctx, sink, m) }); err != nil {
			return err
		}
	}
}

// apply hands one stream message to sink, on deliver's goroutine.
func (s *Source) apply(ctx context.Context, sink reactive.ChangeSink, m jetstream.Msg) error {
	md, err := m.Metadata()
	if err != nil {
		return fmt.Errorf("message metadata: %w", err)
	}
	seq, want := md.Sequence.Stream, s.lastSeq.Load()+1
	last := reactive.LSN(s.lastLSN.Load())
	if seq != want {
		s.gaps.Add(1)
		s.log.Warn("cluster: gap in the change stream; every live query re-runs",
			slog.Uint64("expected", want), slog.Uint64("got", seq))
		sink.Reset(last)
	}
	s.lastSeq.Store(seq)
	lsn, err := msgLSN(m.Headers())
	if err != nil {
		s.log.Warn("cluster: skipping a malformed change stream message", slog.Uint64("seq", seq), slog.Any("err", err))
		return nil
	}
	switch m.Headers().Get(kindHdr) {
	case kindCommit:
		if lsn <= last {
			return nil // a new reader repeating what its predecessor sent
		}
		c, err := decodeCommit(m.Data())
		if err != nil {
			s.log.Warn("cluster: undecodable commit; every live query re-runs", slog.Uint64("seq", seq), slog.Any("err", err))
			sink.Reset(lsn)
		} else if err := sink.Commit(ctx, c); err != nil {
			return err
		}
	case kindProgress:
		if lsn > last {
			sink.Progress(lsn)
		}
	case kindReset:
		// The slot was made anew (a new database, a lost slot): positions
		// start over from here, even below the last one.
		s.resets.Add(1)
		s.lastLSN.Store(uint64(lsn))
		sink.Reset(lsn)
		return nil
	}
	if lsn > last {
		s.lastLSN.Store(uint64(lsn))
	}
	return nil
}
