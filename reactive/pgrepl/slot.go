package pgrepl

// The slot: making it, starting or resuming the stream on it, and dropping
// a permanent one (see the package doc's "Permanent or temporary").

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/parley-chat/parley/reactive"
)

// startReplication starts streaming and returns where from. With a
// permanent slot this Run already streamed on the same server, it resumes
// that slot at applied (the server moves a position it already confirmed
// past up to its confirmed one) and reports resumed. Otherwise it makes the
// slot — a temporary one, or the permanent one after dropping what an
// earlier process left of it — and starts at its consistent point.
func (s *Source) startReplication(ctx context.Context, conn *pgconn.PgConn, applied reactive.LSN) (start reactive.LSN, resumed bool, err error) {
	sys, err := pglogrepl.IdentifySystem(ctx, conn)
	if err != nil {
		return 0, false, fmt.Errorf("identify system: %w", err)
	}
	if s.cfg.Slot != "" {
		s.slot.Store(&s.cfg.Slot)
		if s.owned && sys.SystemID == s.systemID {
			err := s.startStreaming(ctx, conn, s.cfg.Slot, applied)
			if err == nil {
				return applied, true, nil
			}
			if !slotLost(err) {
				return 0, false, err
			}
			s.log.Warn("pgrepl: replication slot is gone; making it anew, and every live query re-runs",
				logKeySlot, s.cfg.Slot, logKeyErr, err)
		} else if s.owned {
			s.log.Warn("pgrepl: the database server changed (failover or restore); making the slot anew",
				logKeySlot, s.cfg.Slot, "system", sys.SystemID)
		}
		if s.cfg.Shared && !s.owned {
			// A reader before this one left the slot: go on from it. (A
			// failed START_REPLICATION leaves the connection unusable for
			// CREATE_REPLICATION_SLOT, so the slot is looked up first.)
			exists, err := s.slotExists(ctx, conn)
			if err != nil {
				return 0, false, err
			}
			if exists {
				if err := s.startStreaming(ctx, conn, s.cfg.Slot, applied); err != nil {
					return 0, false, err
				}
				s.owned, s.systemID = true, sys.SystemID
				return applied, true, nil
			}
			s.log.Info("pgrepl: no shared replication slot to resume; making it", logKeySlot, s.cfg.Slot)
		}
		s.owned = false
		if err := s.dropSlot(ctx, conn, false); err != nil {
			return 0, false, err
		}
	}
	slot := s.cfg.Slot
	if slot == "" {
		var suffix [slotSuffixBytes]byte
		_, _ = rand.Read(suffix[:]) // never fails
		slot = s.cfg.SlotPrefix + "_" + hex.EncodeToString(suffix[:])
		s.slot.Store(&slot)
	}
	res, err := pglogrepl.CreateReplicationSlot(ctx, conn, slot, "pgoutput", pglogrepl.CreateReplicationSlotOptions{
		Temporary:      s.cfg.Slot == "",
		SnapshotAction: "NOEXPORT_SNAPSHOT",
		Mode:           pglogrepl.LogicalReplication,
	})
	if err != nil {
		err = fmt.Errorf("create replication slot: %w", err)
		if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
			switch pgErr.Code {
			case "42501":
				return 0, false, fatal(fmt.Errorf("%w: %w", ErrPermission, err))
			case "55000": // wal_level or max_replication_slots
				return 0, false, fatal(err)
			}
		}
		return 0, false, err
	}
	lsn, err := pglogrepl.ParseLSN(res.ConsistentPoint)
	if err != nil {
		return 0, false, fmt.Errorf("create replication slot: consistent point: %w", err)
	}
	if err := s.startStreaming(ctx, conn, slot, reactive.LSN(lsn)); err != nil {
		return 0, false, err
	}
	// Owned only once streaming: the sink gets the Reset that goes with
	// the new slot now. A slot made but never streamed is made anew by the
	// next connection, with its Reset, rather than resumed without one.
	if s.cfg.Slot != "" {
		s.owned, s.systemID = true, sys.SystemID
	}
	return reactive.LSN(lsn), false, nil
}

// slotExists reports whether the permanent slot is there, valid.
func (s *Source) slotExists(ctx context.Context, conn *pgconn.PgConn) (bool, error) {
	res, err := conn.Exec(ctx, "SELECT 1 FROM pg_replication_slots WHERE slot_name = "+replLiteral(s.cfg.Slot)+
		" AND database = current_database()").ReadAll()
	if err != nil {
		return false, fmt.Errorf("look up replication slot: %w", err)
	}
	return len(res) > 0 && len(res[0].Rows) > 0, nil
}

// startStreaming sends START_REPLICATION for slot at lsn.
func (s *Source) startStreaming(ctx context.Context, conn *pgconn.PgConn, slot string, lsn reactive.LSN) error {
	err := pglogrepl.StartReplication(ctx, conn, slot, pglogrepl.LSN(lsn), pglogrepl.StartReplicationOptions{
		Mode: pglogrepl.LogicalReplication,
		PluginArgs: []string{
			"proto_version '2'",
			"publication_names " + replLiteral(quoteIdent(s.cfg.Publication)),
			"streaming 'on'",
		},
	})
	if err == nil {
		return nil
	}
	err = fmt.Errorf("start replication: %w", err)
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		switch {
		case pgErr.Code == "42501":
			return fatal(fmt.Errorf("%w: %w", ErrPermission, err))
		case pgErr.Code == "42704" && s.cfg.Slot == "":
			return fatal(fmt.Errorf("%w: %w", ErrNoPublication, err))
		case strings.HasPrefix(pgErr.Code, "0A"), pgErr.Code == "22023":
			// Options this server does not support (PostgreSQL < 14).
			return fatal(err)
		}
	}
	return err
}

// slotLost reports whether START_REPLICATION failed because the permanent
// slot no longer exists, or was invalidated (max_slot_wal_keep_size).
func slotLost(err error) bool {
	pgErr, ok := errors.AsType[*pgconn.PgError](err)
	if !ok {
		return false
	}
	switch pgErr.Code {
	case "42704": // undefined_object: no such slot (a missing publication says "publication")
		return strings.Contains(pgErr.Message, "replication slot")
	case "55000": // object_not_in_prerequisite_state: "can no longer get changes from replication slot"
		return true
	}
	return false
}

// dropSlot drops the permanent slot if it exists. A slot another
// connection streams from is not taken: that is a transient error (the
// previous process's walsender may not have noticed yet that it died) whose
// message says what to do if it lasts.
func (s *Source) dropSlot(ctx context.Context, conn *pgconn.PgConn, wait bool) error {
	err := pglogrepl.DropReplicationSlot(ctx, conn, s.cfg.Slot, pglogrepl.DropReplicationSlotOptions{Wait: wait})
	if err == nil {
		return nil
	}
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		switch pgErr.Code {
		case "42704":
			return nil // none left behind
		case "55006":
			return fmt.Errorf("replication slot %q is in use (%s): another Parley server streams from it; "+
				"give each server its own slot name", s.cfg.Slot, pgErr.Message)
		case "42501":
			return fatal(fmt.Errorf("drop replication slot: %w: %w", ErrPermission, err))
		}
	}
	return fmt.Errorf("drop replication slot %q: %w", s.cfg.Slot, err)
}

// dropOwnSlot drops the permanent slot this Run made, on a connection of
// its own, as Run returns: a stopped server must not make the database keep
// WAL for it. A server that dies instead leaves the slot to the next Run.
func (s *Source) dropOwnSlot() {
	if !s.owned || s.cfg.Shared {
		s.owned = false
		return
	}
	s.owned = false
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	conn, err := pgconn.ConnectConfig(ctx, s.pgcfg)
	if err == nil {
		// WAIT: the streaming connection was just closed, and its walsender
		// may not have exited yet.
		err = s.dropSlot(ctx, conn, true)
		_ = conn.Close(ctx)
	}
	if err != nil {
		s.log.Warn("pgrepl: could not drop the replication slot; the next start drops it",
			logKeySlot, s.cfg.Slot, logKeyErr, err)
		return
	}
	s.log.Info("pgrepl: dropped replication slot", logKeySlot, s.cfg.Slot)
}
