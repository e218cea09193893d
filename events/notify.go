package events

import (
	"context"
	"fmt"
	"net/mail"
	"slices"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

// Notification modes.
const (
	ModeOff       = "off"
	ModeImmediate = "immediate"
	ModeDigest    = "digest"
	// DefaultMode is the mode of a user who never chose one.
	DefaultMode = ModeImmediate
)

// ErrGuestSettings is a guest's call of the settings functions.
var ErrGuestSettings = functions.Forbidden("Guests get no notification mail: sign in to choose")

// NotificationSettings is a user's notification choice.
type NotificationSettings struct {
	// Mode is off, immediate (one mail per conversation when a message
	// arrives while the user is offline; the default) or digest (one
	// summary of unread conversations per digest period).
	Mode string `json:"mode" ts:"off|immediate|digest"`
	// Email is where mail goes: the address the user set, else their
	// token's email claim, else their account's. Null: none known, so
	// no mail.
	Email *string `json:"email"`
	// EmailSource says which: settings, token or account.
	EmailSource *string `json:"emailSource" ts:"settings|token|account"`
	// EmailEnabled says the server sends mail at all (it has a mail
	// transport).
	EmailEnabled bool `json:"emailEnabled"`
}

// UpdateNotificationSettingsArgs changes the caller's settings; an absent
// field keeps its value.
type UpdateNotificationSettingsArgs struct {
	Mode *string `json:"mode" ts:"off|immediate|digest"`
	// Email is the address to use; "" removes the one set (back to the
	// token's or the account's).
	Email *string `json:"email"`
}

func (s *Service) registerNotifyFunctions(r *functions.Registry) {
	functions.Query(r, "shared/events:getNotificationSettings", s.getNotificationSettings)
	functions.Mutation(r, "shared/events:updateNotificationSettings", s.updateNotificationSettings)
}

func requireUser(id *functions.Identity) error {
	switch {
	case id == nil:
		return functions.ErrNotAuthenticated
	case id.Role == functions.RoleGuest:
		return ErrGuestSettings
	}
	return nil
}

// readSettings reads user's settings, recording what it read.
func (s *Service) readSettings(ctx context.Context, db *schema.DB, user string) (NotificationSettings, error) {
	db.Record(schema.Dep{Table: "notification_settings", Column: "user_id", Value: user})
	db.Record(schema.Dep{Table: "user_emails", Column: "user_id", Value: user})
	db.Record(schema.Dep{Table: "users", Column: "id", Value: user})
	var mode, set, claimed, account *string
	err := db.Querier().QueryRow(ctx, `SELECT s.mode, s.email, ue.email, u.email FROM (SELECT $1::text AS id) x
		LEFT JOIN notification_settings s ON s.user_id = x.id
		LEFT JOIN user_emails ue ON ue.user_id = x.id
		LEFT JOIN users u ON u.id = x.id`, user).Scan(&mode, &set, &claimed, &account)
	if err != nil {
		return NotificationSettings{}, fmt.Errorf("read notification settings: %w", err)
	}
	out := NotificationSettings{Mode: DefaultMode, EmailEnabled: s.cfg.Notify.Mailer != nil}
	if mode != nil {
		out.Mode = *mode
	}
	for _, c := range []struct {
		v   *string
		src string
	}{{set, "settings"}, {claimed, "token"}, {account, "account"}} {
		if c.v != nil && *c.v != "" {
			out.Email, out.EmailSource = c.v, &c.src
			break
		}
	}
	return out, nil
}

func (s *Service) getNotificationSettings(c *functions.QueryCtx, _ functions.EmptyArgs) (NotificationSettings, error) {
	id := c.Identity()
	if err := requireUser(id); err != nil {
		return NotificationSettings{}, err
	}
	return s.readSettings(c.Ctx, c.DB, id.Subject)
}

// maxEmail bounds an address, in bytes.
const maxEmail = 254

func (s *Service) updateNotificationSettings(c *functions.MutationCtx, a UpdateNotificationSettingsArgs) (NotificationSettings, error) {
	id := c.Identity()
	if err := requireUser(id); err != nil {
		return NotificationSettings{}, err
	}
	if a.Mode != nil && !slices.Contains([]string{ModeOff, ModeImmediate, ModeDigest}, *a.Mode) {
		return NotificationSettings{}, functions.Invalid(`mode must be "off", "immediate" or "digest"`)
	}
	if a.Email != nil && *a.Email != "" {
		addr, err := mail.ParseAddress(*a.Email)
		if err != nil || addr.Address != *a.Email || len(*a.Email) > maxEmail {
			return NotificationSettings{}, functions.Invalid("email must be an address like name@example.com (at most %d bytes)", maxEmail)
		}
	}
	q := c.DB.Querier()
	if _, err := q.Exec(c.Ctx, `INSERT INTO notification_settings (user_id, mode, email, updated_at)
		VALUES ($1, coalesce($2, 'immediate'), nullif($3, ''), $4)
		ON CONFLICT (user_id) DO UPDATE SET mode = coalesce($2, notification_settings.mode),
			email = CASE WHEN $3::text IS NULL THEN notification_settings.email ELSE nullif($3, '') END, updated_at = $4`,
		id.Subject, a.Mode, a.Email, c.Now()); err != nil {
		return NotificationSettings{}, fmt.Errorf("update notification settings: %w", err)
	}
	if id.Email != "" {
		if _, err := q.Exec(c.Ctx, `INSERT INTO user_emails (user_id, email, updated_at) VALUES ($1, $2, $3)
			ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, updated_at = excluded.updated_at
			WHERE user_emails.email <> excluded.email`, id.Subject, id.Email, c.Now()); err != nil {
			return NotificationSettings{}, fmt.Errorf("record email claim: %w", err)
		}
	}
	return s.readSettings(c.Ctx, c.DB, id.Subject)
}
