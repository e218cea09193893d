package pgrepl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/parley-chat/parley/reactive"
)

var (
	_ reactive.ChangeSource   = (*Source)(nil)
	_ reactive.StatusReporter = (*Source)(nil)
)

// Errors. Run returns the exported ones, wrapped with details, for
// misconfiguration it cannot recover from by reconnecting.
var (
	// ErrWALLevel means the server does not run with wal_level=logical.
	ErrWALLevel = errors.New("pgrepl: wal_level is not logical")
	// ErrNoPublication means Config.Publication does not exist in the database.
	ErrNoPublication = errors.New("pgrepl: publication does not exist")
	// ErrPermission means the role may not open a replication connection
	// or use replication slots (it needs the REPLICATION attribute), or
	// authentication failed.
	ErrPermission = errors.New("pgrepl: permission denied")
	// ErrRunning means Run was called while another Run of the same Source
	// was still running.
	ErrRunning = errors.New("pgrepl: already running")

	// errProtocol marks a pgoutput stream the decoder cannot follow. It
	// never leaves the package: the source reconnects.
	errProtocol = errors.New("malformed pgoutput stream")
)

// Log attribute keys.
const (
	logKeyErr     = "err"
	logKeySlot    = "slot"
	logKeyLSN     = "lsn"
	logKeyBackoff = "backoff"
	logKeyTable   = "table"
)

const (
	defaultSlotPrefix       = "parley"
	defaultStandbyInterval  = time.Second
	defaultReconnectBackoff = 200 * time.Millisecond
	maxReconnectBackoff     = 5 * time.Second
	defaultMaxTxChanges     = 10000
	closeTimeout            = 5 * time.Second
	slotSuffixBytes         = 6 // 12 hex digits
	maxSlotNameLen          = 63
)

var slotPrefixRE = regexp.MustCompile(`^[a-z0-9_]+$`)

// Config configures a Source.
type Config struct {
	// ConnString is a normal PostgreSQL URL or keyword/value string. The
	// source adds replication=database itself, and application_name
	// "parley_pgrepl" when none is given. Required.
	ConnString string
	// Publication is the publication to stream (CREATE PUBLICATION ... FOR
	// TABLE ...). Required.
	Publication string
	// SlotPrefix starts every temporary slot name; a random suffix makes
	// each name unique. Lower-case letters, digits and underscores. Zero
	// means "parley".
	SlotPrefix string
	// Slot, when set, names a permanent slot that outlives the connection:
	// a reconnect resumes it where the engine's applied position left off,
	// so the gap's commits are delivered and nothing needs re-running
	// (sink.Resume). Run's first connection drops any slot of that name left
	// by an earlier process and creates it anew (sink.Reset); a clean return
	// drops it. Each server needs a name of its own (slots are
	// cluster-wide). Empty means a fresh temporary slot per connection,
	// named SlotPrefix_<random>, and a sink.Reset after every reconnect.
	Slot string
	// Shared makes the permanent slot Slot a cluster's, read by one
	// elected node at a time (package cluster): Run's first connection
	// resumes the slot if it exists, at sink.Applied (the server moves a
	// position it already confirmed up to the confirmed one), instead of
	// dropping it, and Run leaves it in place when it returns, for the
	// next reader. A slot that does not exist is made (sink.Reset).
	Shared bool
	// StandbyInterval is how often a standby status update reports the
	// applied position to the server. Zero means 1s.
	StandbyInterval time.Duration
	// ReconnectBackoff is the first wait after a failed connection; it
	// doubles on each further failure up to 5s (or ReconnectBackoff, if
	// larger) and starts over once replication is streaming. Zero means
	// 200ms.
	ReconnectBackoff time.Duration
	// MaxTxChanges caps the changes buffered per table per transaction
	// (streamed or not). Beyond it the table's rows are dropped and only its
	// name is kept in Commit.Overflow. Zero means 10000.
	MaxTxChanges int
	// Logger receives connection events. Nil discards them.
	Logger *slog.Logger
}

// Source streams committed changes from a PostgreSQL logical replication
// slot (pgoutput). Run must not be called concurrently with itself; Status
// is safe for concurrent use at any time.
type Source struct {
	cfg     Config
	pgcfg   *pgconn.Config
	log     *slog.Logger
	running atomic.Bool

	// Owned by the goroutine running Run.
	warnedNonFull map[string]bool
	// owned: the permanent slot (Config.Slot) was made by this Run and
	// holds the position the engine applied, on the server systemID names.
	owned      bool
	systemID   string
	warnedKeep bool

	// Status fields, written by the Run goroutine.
	connected    atomic.Bool
	slot         atomic.Pointer[string]
	receivedLSN  atomic.Uint64
	keepaliveLSN atomic.Uint64
	reconnects   atomic.Int64
	resumes      atomic.Int64
}

// New validates cfg and fills in its defaults. It does not connect.
func New(cfg Config) (*Source, error) {
	if cfg.ConnString == "" {
		return nil, errors.New("pgrepl: ConnString is required")
	}
	if cfg.Publication == "" {
		return nil, errors.New("pgrepl: Publication is required")
	}
	if cfg.SlotPrefix == "" {
		cfg.SlotPrefix = defaultSlotPrefix
	}
	if cfg.Slot != "" && (!slotPrefixRE.MatchString(cfg.Slot) || len(cfg.Slot) > maxSlotNameLen) {
		return nil, fmt.Errorf("pgrepl: invalid Slot %q: want at most %d of [a-z0-9_]", cfg.Slot, maxSlotNameLen)
	}
	if !slotPrefixRE.MatchString(cfg.SlotPrefix) || len(cfg.SlotPrefix)+1+2*slotSuffixBytes > maxSlotNameLen {
		return nil, fmt.Errorf("pgrepl: invalid SlotPrefix %q: want at most %d of [a-z0-9_]",
			cfg.SlotPrefix, maxSlotNameLen-1-2*slotSuffixBytes)
	}
	if cfg.StandbyInterval < 0 || cfg.ReconnectBackoff < 0 || cfg.MaxTxChanges < 0 {
		return nil, errors.New("pgrepl: StandbyInterval, ReconnectBackoff and MaxTxChanges must not be negative")
	}
	if cfg.StandbyInterval == 0 {
		cfg.StandbyInterval = defaultStandbyInterval
	}
	if cfg.ReconnectBackoff == 0 {
		cfg.ReconnectBackoff = defaultReconnectBackoff
	}
	if cfg.MaxTxChanges == 0 {
		cfg.MaxTxChanges = defaultMaxTxChanges
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	pgcfg, err := pgconn.ParseConfig(cfg.ConnString)
	if err != nil {
		return nil, fmt.Errorf("pgrepl: parse ConnString: %w", err)
	}
	pgcfg.RuntimeParams["replication"] = "database"
	if pgcfg.RuntimeParams["application_name"] == "" {
		pgcfg.RuntimeParams["application_name"] = "parley_pgrepl"
	}
	s := &Source{cfg: cfg, pgcfg: pgcfg, log: cfg.Logger, warnedNonFull: map[string]bool{}}
	s.slot.Store(new(string))
	return s, nil
}

// Status reports the source's current state (reactive.StatusReporter).
// It is safe for concurrent use.
func (s *Source) Status() reactive.SourceStatus {
	return reactive.SourceStatus{
		Connected:    s.connected.Load(),
		Slot:         *s.slot.Load(),
		ReceivedLSN:  reactive.LSN(s.receivedLSN.Load()),
		KeepaliveLSN: reactive.LSN(s.keepaliveLSN.Load()),
		Reconnects:   s.reconnects.Load(),
		Resumes:      s.resumes.Load(),
	}
}

// fatalError marks an error that reconnecting cannot fix.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

func fatal(err error) error { return &fatalError{err: err} }

// Run streams changes into sink until ctx is done (it then returns nil) or a
// misconfiguration makes streaming impossible (it returns an error wrapping
// ErrWALLevel, ErrNoPublication or ErrPermission, or another setup error).
// Every other failure is logged at warn level, reported by
// sink.Interrupted and followed, after a backoff, by a fresh connection:
// with a temporary slot a fresh slot and sink.Reset; with a permanent one
// the same slot resumed and sink.Resume (see the package doc). Run returns
// only after the goroutines it started have exited.
func (s *Source) Run(ctx context.Context, sink reactive.ChangeSink) error {
	if !s.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer s.running.Store(false)

	backoff := s.cfg.ReconnectBackoff
	maxBackoff := max(maxReconnectBackoff, backoff)
	for {
		streamed, err := s.session(ctx, sink)
		s.connected.Store(false)
		if streamed {
			sink.Interrupted()
		}
		if ctx.Err() != nil {
			s.dropOwnSlot()
			return nil
		}
		if fe, ok := errors.AsType[*fatalError](err); ok {
			return fe.err
		}
		if err == nil {
			err = errors.New("replication stream ended")
		}
		if streamed {
			backoff = s.cfg.ReconnectBackoff
		}
		s.log.Warn("pgrepl: replication interrupted, reconnecting",
			logKeyErr, err, logKeySlot, *s.slot.Load(), logKeyBackoff, backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			s.dropOwnSlot()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
		s.reconnects.Add(1)
	}
}

// session runs one replication connection from connect to failure. streamed
// reports whether replication got as far as streaming.
func (s *Source) session(ctx context.Context, sink reactive.ChangeSink) (streamed bool, err error) {
	conn, err := s.connect(ctx)
	if err != nil {
		return false, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		_ = conn.Close(cctx) // a temporary slot goes with the connection
	}()

	start, resumed, err := s.startReplication(ctx, conn, sink.Applied())
	if err != nil {
		return false, err
	}
	s.connected.Store(true)
	if resumed {
		s.resumes.Add(1)
		s.log.Info("pgrepl: replication resumed", logKeySlot, *s.slot.Load(), logKeyLSN, start)
		sink.Resume(start)
	} else {
		s.log.Info("pgrepl: replication started", logKeySlot, *s.slot.Load(), logKeyLSN, start)
		sink.Reset(start)
	}

	st := &stream{
		src:        s,
		conn:       conn,
		sink:       sink,
		dec:        newDecoder(s.cfg.MaxTxChanges),
		start:      start,
		delivered:  start,
		progressed: start,
	}
	st.dec.nonFull = s.warnNonFull

	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { st.wake.watch(wctx, sink.ProgressWanted()) })
	defer wg.Wait()
	defer stop()
	return true, st.run(ctx)
}

func (s *Source) connect(ctx context.Context) (*pgconn.PgConn, error) {
	conn, err := pgconn.ConnectConfig(ctx, s.pgcfg)
	if err != nil {
		if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
			switch {
			case pgErr.Code == "42501" || strings.HasPrefix(pgErr.Code, "28"):
				return nil, fatal(fmt.Errorf("connect: %w: %w", ErrPermission, err))
			case pgErr.Code == "3D000" || strings.HasPrefix(pgErr.Code, "42"):
				// No such database, or bad options in ConnString.
				return nil, fatal(fmt.Errorf("connect: %w", err))
			}
		}
		return nil, fmt.Errorf("connect: %w", err)
	}
	if err := s.checkServer(ctx, conn); err != nil {
		cctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		_ = conn.Close(cctx)
		return nil, err
	}
	return conn, nil
}

// checkServer turns the usual misconfigurations into clear fatal errors
// before they surface as obscure replication errors.
func (s *Source) checkServer(ctx context.Context, conn *pgconn.PgConn) error {
	res, err := conn.Exec(ctx, "SHOW wal_level").ReadAll()
	if err != nil {
		return fmt.Errorf("show wal_level: %w", err)
	}
	if len(res) != 1 || len(res[0].Rows) != 1 || len(res[0].Rows[0]) != 1 {
		return errors.New("show wal_level: unexpected result")
	}
	if level := string(res[0].Rows[0][0]); level != "logical" {
		return fatal(fmt.Errorf("%w: it is %q", ErrWALLevel, level))
	}

	if s.cfg.Slot != "" && !s.warnedKeep {
		s.warnedKeep = true
		res, err := conn.Exec(ctx, "SHOW max_slot_wal_keep_size").ReadAll()
		if err == nil && len(res) == 1 && len(res[0].Rows) == 1 && string(res[0].Rows[0][0]) == "-1" {
			s.log.Warn("pgrepl: max_slot_wal_keep_size is unlimited: while this server is down, PostgreSQL keeps "+
				"all WAL for its permanent slot; set a limit, or drop the slot of a server that is gone "+
				"(SELECT pg_drop_replication_slot(name))", logKeySlot, s.cfg.Slot)
		}
	}

	// Compared here rather than in SQL: a walsender only speaks the simple
	// query protocol, and this avoids quoting the name.
	res, err = conn.Exec(ctx, "SELECT pubname FROM pg_catalog.pg_publication").ReadAll()
	if err != nil {
		return fmt.Errorf("list publications: %w", err)
	}
	for _, r := range res {
		for _, row := range r.Rows {
			if len(row) == 1 && string(row[0]) == s.cfg.Publication {
				return nil
			}
		}
	}
	return fatal(fmt.Errorf("%w: %q", ErrNoPublication, s.cfg.Publication))
}

func (s *Source) warnNonFull(table string) {
	if s.warnedNonFull[table] {
		return
	}
	s.warnedNonFull[table] = true
	s.log.Warn("pgrepl: table lacks REPLICA IDENTITY FULL; each update or delete of it invalidates every query that read it",
		logKeyTable, table)
}

// quoteIdent quotes a publication name for pgoutput's publication_names,
// which is parsed as a list of SQL identifiers.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// replLiteral quotes a string for the replication command grammar, whose
// quoted strings escape a quote only by doubling it.
func replLiteral(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }

// stream is the state of one streaming connection. It is owned by the
// session goroutine, apart from wake.
type stream struct {
	src  *Source
	conn *pgconn.PgConn
	sink reactive.ChangeSink
	dec  *decoder
	wake waker

	start      reactive.LSN // the slot's consistent point
	delivered  reactive.LSN // highest commit end or progress handed to sink
	progressed reactive.LSN // highest position passed to sink.Progress

	nextStatus time.Time
	statusNow  bool // send a status update before receiving again
	askReply   bool // with ReplyRequested set
	// awaiting is set while a reply-requested status update's keepalive
	// has not come back; retry is set when it came back inside an open
	// transaction, so the request is repeated once the stream is idle.
	awaiting bool
	retry    bool
}

func (st *stream) run(ctx context.Context) error {
	defer st.wake.release()
	st.nextStatus = time.Now().Add(st.src.cfg.StandbyInterval)
	for {
		if st.wake.take() {
			st.statusNow, st.askReply = true, true
		}
		if st.statusNow || !time.Now().Before(st.nextStatus) {
			if err := st.sendStatus(ctx); err != nil {
				return err
			}
		}
		msg, err := st.wake.receive(ctx, st.conn, st.nextStatus)
		if err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		switch msg := msg.(type) {
		case nil: // status deadline or wake-up
		case *pgproto3.CopyData:
			if err := st.handle(ctx, msg.Data); err != nil {
				return err
			}
		case *pgproto3.ErrorResponse:
			return fmt.Errorf("replication: %w", pgconn.ErrorResponseToPgError(msg))
		case *pgproto3.CopyDone:
			return errors.New("replication: server ended the stream")
		default: // notices, parameter status
		}
	}
}

func (st *stream) handle(ctx context.Context, data []byte) error {
	if len(data) == 0 {
		return errors.New("replication: empty CopyData")
	}
	switch data[0] {
	case pglogrepl.PrimaryKeepaliveMessageByteID:
		k, err := pglogrepl.ParsePrimaryKeepaliveMessage(data[1:])
		if err != nil {
			return fmt.Errorf("keepalive: %w", err)
		}
		w := reactive.LSN(k.ServerWALEnd)
		st.src.keepaliveLSN.Store(uint64(w))
		if k.ReplyRequested {
			st.statusNow = true
		}
		if !st.dec.idle() {
			// A transaction is half delivered: its commit may lie before w.
			if st.awaiting {
				st.awaiting, st.retry = false, true
			}
			return nil
		}
		st.awaiting = false
		if w > st.progressed {
			st.progressed = w
			st.delivered = max(st.delivered, w)
			st.sink.Progress(w)
		}
	case pglogrepl.XLogDataByteID:
		x, err := pglogrepl.ParseXLogData(data[1:])
		if err != nil {
			return fmt.Errorf("xlog data: %w", err)
		}
		if uint64(x.WALStart) > st.src.receivedLSN.Load() {
			st.src.receivedLSN.Store(uint64(x.WALStart))
		}
		c, ok, err := st.dec.decode(x.WALData)
		if err != nil {
			return fmt.Errorf("decode at %s: %w", reactive.LSN(x.WALStart), err)
		}
		if ok {
			if err := st.sink.Commit(ctx, c); err != nil {
				return fmt.Errorf("deliver commit: %w", err)
			}
			st.delivered = max(st.delivered, c.EndLSN)
		}
		if st.retry && st.dec.idle() {
			st.retry = false
			st.statusNow, st.askReply = true, true
		}
	default:
		// Unknown CopyData kinds are ignored, as the protocol allows.
	}
	return nil
}

// sendStatus reports the engine's applied position, never more than was
// delivered on this connection. Positions before the slot's start mean
// nothing to this slot and are sent as 0, which the server ignores.
func (st *stream) sendStatus(ctx context.Context) error {
	pos := min(st.sink.Applied(), st.delivered)
	if pos < st.start {
		pos = 0
	}
	err := pglogrepl.SendStandbyStatusUpdate(ctx, st.conn, pglogrepl.StandbyStatusUpdate{
		WALWritePosition: pglogrepl.LSN(pos),
		WALFlushPosition: pglogrepl.LSN(pos),
		WALApplyPosition: pglogrepl.LSN(pos),
		ReplyRequested:   st.askReply,
	})
	if err != nil {
		return fmt.Errorf("send standby status: %w", err)
	}
	if st.askReply {
		st.awaiting = true
	}
	st.statusNow, st.askReply = false, false
	st.nextStatus = time.Now().Add(st.src.cfg.StandbyInterval)
	return nil
}

// waker lets sink.ProgressWanted interrupt a receive in progress, so the
// session goroutine can ask the server for a keepalive at once.
type waker struct {
	mu     sync.Mutex
	wanted bool
	// The receives' context, with the status deadline it was made for: it
	// serves every receive until that deadline or a wake-up ends it, so a
	// message costs no context and runtime timer of its own. Nil when none.
	rctx     context.Context
	cancel   context.CancelFunc
	deadline time.Time
}

// watch turns signals on ch into wake-ups until ctx is done.
func (w *waker) watch(ctx context.Context, ch <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-ch:
			w.mu.Lock()
			w.wanted = true
			if w.cancel != nil {
				w.cancel()
			}
			w.mu.Unlock()
		}
	}
}

// take reports and clears a pending wake-up.
func (w *waker) take() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	v := w.wanted
	w.wanted = false
	return v
}

// receive waits for one message until deadline. It returns a nil message
// and nil error when the deadline passes or a wake-up interrupts it; both
// leave the connection usable.
func (w *waker) receive(ctx context.Context, conn *pgconn.PgConn, deadline time.Time) (pgproto3.BackendMessage, error) {
	w.mu.Lock()
	if w.wanted {
		w.mu.Unlock()
		return nil, nil
	}
	if w.rctx == nil || w.rctx.Err() != nil || !w.deadline.Equal(deadline) {
		if w.cancel != nil {
			w.cancel()
		}
		w.rctx, w.cancel = context.WithDeadline(ctx, deadline)
		w.deadline = deadline
	}
	rctx := w.rctx
	w.mu.Unlock()

	msg, err := conn.ReceiveMessage(rctx)
	if err != nil && ctx.Err() == nil &&
		(pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
		return nil, nil // rctx is done: the next receive makes another
	}
	return msg, err
}

// release ends the receives' context when the stream ends.
func (w *waker) release() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cancel != nil {
		w.cancel()
	}
	w.rctx, w.cancel = nil, nil
}
