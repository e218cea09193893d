package assistant_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/assistant"
	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/parleytest"
)

var callers = []string{"C", "S", "A", "N", "XA", "G"}

type codes [6]int

// accessRules is the tested access table: doc.go's, cell for cell.
func accessRules() map[string]codes {
	return map[string]codes{
		"upsertAssistant":  {403, 403, 200, 401, 200, 403},
		"listAssistants":   {403, 403, 200, 401, 200, 403},
		"startChat":        {200, 403, 403, 401, 403, 200},
		"getChatAssistant": {200, 404, 200, 401, 404, 200},
		"requestHuman":     {200, 403, 403, 401, 403, 200},
		"getAiChats":       {403, 403, 200, 401, 200, 403},
		"getAssistantRuns": {403, 403, 200, 401, 404, 403},
		"takeoverChat":     {403, 403, 200, 401, 404, 403},
		"resumeAi":         {403, 403, 200, 401, 404, 403},
	}
}

// TestDocTableIsTheTestedTable: doc.go's access table and accessRules say
// the same, cell for cell.
func TestDocTableIsTheTestedTable(t *testing.T) {
	doc := map[string]codes{}
	for label, c := range parleytest.DocTable(t, "doc.go", len(callers)) {
		doc[label] = codes(c)
	}
	require.Equal(t, accessRules(), doc)
}

func TestAccess(t *testing.T) {
	e := newEnv(t, nil)
	e.configure(assistant.ProviderBuiltin, map[string]any{"greeting": ""})
	guest := e.s.NewGuest(t, "Visitor")
	ids := map[string]functions.Identity{"C": john, "S": staff, "A": admin, "N": parleytest.Anonymous, "XA": acmeAdmin,
		"G": guest.Identity}
	n := 0
	// conv is a fresh support conversation for each call: the caller's own
	// for C and G (a new customer, a new guest), a new customer's for the
	// others; started (the assistant answers it) when started says so.
	conv := func(caller string, started bool) (functions.Identity, string) {
		n++
		owner := functions.Identity{Subject: fmt.Sprintf("acc-%d", n), Role: functions.RoleCustomer, Name: "Customer"}
		if caller == "G" {
			owner = e.s.NewGuest(t, "Visitor").Identity
		}
		ref := must[chat.ConversationRef](t)(e.mutate(owner, "shared/chat:createOrGetConversation", map[string]any{}))
		if started {
			must[assistant.ChatAssistant](t)(e.mutate(owner, "shared/assistant:startChat", map[string]any{"conversationId": ref.ConversationID}))
		}
		if caller == "C" || caller == "G" {
			return owner, ref.ConversationID
		}
		return ids[caller], ref.ConversationID
	}
	on := func(name string, started bool, query bool) func(caller string) error {
		return func(caller string) error {
			who, id := conv(caller, started)
			args := map[string]any{"conversationId": id}
			if query {
				_, err := e.query(who, name, args)
				return err
			}
			_, err := e.mutate(who, name, args)
			return err
		}
	}
	calls := map[string]func(caller string) error{
		"upsertAssistant": func(caller string) error {
			_, err := e.mutate(ids[caller], "shared/assistant:upsertAssistant", map[string]any{"name": "Bot " + caller})
			return err
		},
		"listAssistants": func(caller string) error {
			_, err := e.query(ids[caller], "shared/assistant:listAssistants", map[string]any{})
			return err
		},
		"getAiChats": func(caller string) error {
			_, err := e.query(ids[caller], "shared/assistant:getAiChats", map[string]any{})
			return err
		},
		"startChat":        on("shared/assistant:startChat", false, false),
		"getChatAssistant": on("shared/assistant:getChatAssistant", true, true),
		"requestHuman":     on("shared/assistant:requestHuman", true, false),
		"getAssistantRuns": on("shared/assistant:getAssistantRuns", true, true),
		"takeoverChat":     on("shared/support:takeoverChat", true, false),
		"resumeAi": func(caller string) error {
			who, id := conv(caller, true)
			must[assistant.ChatAssistant](t)(e.mutate(admin, "shared/support:takeoverChat", map[string]any{"conversationId": id}))
			_, err := e.mutate(who, "shared/support:resumeAi", map[string]any{"conversationId": id})
			return err
		},
	}
	for fn, want := range accessRules() {
		for i, caller := range callers {
			t.Run(fn+"/"+caller, func(t *testing.T) {
				require.Equal(t, want[i], status(t, calls[fn](caller)))
			})
		}
	}

	// The notes: XA's assistants and AI chats are its org's.
	list := must[[]assistant.AssistantDoc](t)(e.query(acmeAdmin, "shared/assistant:listAssistants", map[string]any{}))
	require.Len(t, list, 1)
	require.Equal(t, "Bot XA", list[0].Name)
	require.Empty(t, must[[]assistant.AiChat](t)(e.query(acmeAdmin, "shared/assistant:getAiChats", map[string]any{})))
	require.NotEmpty(t, must[[]assistant.AiChat](t)(e.query(admin, "shared/assistant:getAiChats", map[string]any{})))
}
