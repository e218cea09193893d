package events_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/events"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/server"
)

// The access table of notify_doc.go's "# Notification functions", cell
// by cell: customer (C), store staff (S), admin (A), guest (G), no
// identity (N).
func TestNotificationSettingsAccess(t *testing.T) {
	_, pool := parleytest.DemoDB(t)
	reg := server.Functions(parleytest.NoLimits, nil, nil, nil)
	ctx := context.Background()
	call := func(id *functions.Identity, fn string, args any) (json.RawMessage, error) {
		f, err := reg.Lookup("shared/events:" + fn)
		require.NoError(t, err)
		raw, err := json.Marshal(args)
		require.NoError(t, err)
		v, err := f.DecodeArgs(raw)
		if err != nil {
			return nil, err
		}
		if f.Kind == functions.KindMutation {
			res, err := f.RunMutation(ctx, pool, id, v, functions.RequestKey{})
			return res.Value, err
		}
		out, err := f.RunQuery(ctx, pool, id, v, time.Now(), "")
		if err != nil {
			return nil, err
		}
		return json.Marshal(out.Value)
	}
	guest := &functions.Identity{Subject: "guest_0fa1c0ffee", Role: functions.RoleGuest, Name: "Guest 0fa1"}
	callers := []struct {
		name string
		id   *functions.Identity
	}{
		{"C", &parleytest.John}, {"S", &parleytest.PizzaStaff}, {"A", &parleytest.Admin}, {"G", guest}, {"N", nil},
	}
	rows := []struct {
		fn   string
		args map[string]any
		want [5]int
	}{
		//                                                         C    S    A    G    N
		{"getNotificationSettings", map[string]any{}, [5]int{200, 200, 200, 403, 401}},
		{"updateNotificationSettings", map[string]any{"mode": "digest"}, [5]int{200, 200, 200, 403, 401}},
	}
	for _, row := range rows {
		for i, c := range callers {
			t.Run(row.fn+"/"+c.name, func(t *testing.T) {
				_, err := call(c.id, row.fn, row.args)
				if row.want[i] == 200 {
					require.NoError(t, err)
					return
				}
				var we *functions.Error
				require.ErrorAs(t, err, &we)
				require.Equal(t, row.want[i], we.Status, we.Message)
			})
		}
	}

	// What the functions say and keep: the default, the account's
	// address, the token's claim, the one set, and back.
	settings := func(id *functions.Identity, fn string, args any) events.NotificationSettings {
		t.Helper()
		raw, err := call(id, fn, args)
		require.NoError(t, err)
		var s events.NotificationSettings
		require.NoError(t, json.Unmarshal(raw, &s))
		return s
	}
	str := func(s string) *string { return &s }
	jane := parleytest.Jane
	janeMail := jane
	janeMail.Email = "jane@token.example"
	steps := []struct {
		name string
		id   *functions.Identity
		fn   string
		args map[string]any
		want events.NotificationSettings
	}{
		{"the default: immediate, the account's address", &jane, "getNotificationSettings", map[string]any{},
			events.NotificationSettings{Mode: "immediate", Email: str("jane@example.com"), EmailSource: str("account")}},
		{"a call with the email claim records it", &janeMail, "updateNotificationSettings", map[string]any{},
			events.NotificationSettings{Mode: "immediate", Email: str("jane@token.example"), EmailSource: str("token")}},
		{"an address set wins", &jane, "updateNotificationSettings", map[string]any{"email": "jane@set.example", "mode": "digest"},
			events.NotificationSettings{Mode: "digest", Email: str("jane@set.example"), EmailSource: str("settings")}},
		{"an absent field keeps its value", &jane, "updateNotificationSettings", map[string]any{"mode": "off"},
			events.NotificationSettings{Mode: "off", Email: str("jane@set.example"), EmailSource: str("settings")}},
		{"\"\" removes the address set", &jane, "updateNotificationSettings", map[string]any{"email": ""},
			events.NotificationSettings{Mode: "off", Email: str("jane@token.example"), EmailSource: str("token")}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			require.Equal(t, st.want, settings(st.id, st.fn, st.args))
		})
	}
	for _, bad := range []map[string]any{{"mode": "weekly"}, {"email": "not an address"}, {"email": "Jane <jane@example.com>"}} {
		_, err := call(&jane, "updateNotificationSettings", bad)
		var we *functions.Error
		require.ErrorAs(t, err, &we, "%v", bad)
		require.Equal(t, 400, we.Status, "%v", bad)
	}
}
