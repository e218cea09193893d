package assistant

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

// Limits of an assistant's configuration.
const (
	MaxNameChars         = 100
	MaxGreetingChars     = 1000
	MaxInstructionsChars = 8000
	MaxModelChars        = 200
	MaxKeywords          = 50
	MaxKeywordChars      = 50
	MaxKnowledge         = 500
	MaxQuestionChars     = 500
	MaxAnswerChars       = 4000
)

// Providers.
const (
	ProviderBuiltin = "builtin"
	ProviderOpenAI  = "openai"
)

// HandoffRules say when an assistant hands a conversation to the queue
// on its own (besides transfer_chat_to_agent and a customer's "talk to a
// human"): a customer message with one of Keywords (whole words, any
// case), or MaxFailures answers in a row it had no confident answer to.
type HandoffRules struct {
	Keywords    []string `json:"keywords"`
	MaxFailures int      `json:"maxFailures"`
}

// Budgets bound an assistant's tokens: per conversation, and per day
// (UTC) over all its conversations (a store's, for a store's assistant).
// Spent, the conversation goes to the queue.
type Budgets struct {
	ConversationTokens int `json:"conversationTokens"`
	DailyTokens        int `json:"dailyTokens"`
}

// KnowledgeEntry is an FAQ entry the assistant answers from.
type KnowledgeEntry struct {
	Question string `json:"question"`
	Answer   string `json:"answer"`
}

// UpsertAssistantArgs configure an org's assistant, or a store's: one per
// scope, so the same storeId (or none) updates the one there is.
type UpsertAssistantArgs struct {
	StoreID      *string `json:"storeId"`
	Name         string  `json:"name"`
	Greeting     *string `json:"greeting"`
	Instructions *string `json:"instructions"`
	Model        *string `json:"model"`
	Provider     *string `json:"provider" ts:"builtin|openai"`
	HandoffRules *struct {
		Keywords    *[]string `json:"keywords"`
		MaxFailures *int      `json:"maxFailures"`
	} `json:"handoffRules"`
	// Knowledge, when given, replaces the FAQ entries.
	Knowledge *[]KnowledgeEntry `json:"knowledge"`
	Budgets   *struct {
		ConversationTokens *int `json:"conversationTokens"`
		DailyTokens        *int `json:"dailyTokens"`
	} `json:"budgets"`
	Enabled *bool `json:"enabled"`
}

// AssistantDoc is an assistant as admins see it.
type AssistantDoc struct {
	ID           string           `json:"_id"`
	StoreID      *string          `json:"storeId"`
	Name         string           `json:"name"`
	Greeting     string           `json:"greeting"`
	Instructions string           `json:"instructions"`
	Model        string           `json:"model"`
	Provider     string           `json:"provider" ts:"builtin|openai"`
	HandoffRules HandoffRules     `json:"handoffRules"`
	Knowledge    []KnowledgeEntry `json:"knowledge"`
	Budgets      Budgets          `json:"budgets"`
	Enabled      bool             `json:"enabled"`
	UpdatedAt    int64            `json:"updatedAt"`
}

// assistantRow is an assistants row.
type assistantRow struct {
	id, org                string
	storeID                *string
	name, greeting         string
	instructions, provider string
	model                  string
	keywords               []string
	maxFailures            int
	convBudget, dayBudget  int
	enabled                bool
	updatedAt              int64
}

const assistantCols = `id, org_id, store_id, name, greeting, instructions, provider, model, handoff_keywords, max_failures,
	conversation_budget, daily_budget, enabled, (extract(epoch FROM updated_at) * 1000)::bigint`

func scanAssistant(row pgx.Row) (assistantRow, error) {
	var a assistantRow
	err := row.Scan(&a.id, &a.org, &a.storeID, &a.name, &a.greeting, &a.instructions, &a.provider, &a.model, &a.keywords,
		&a.maxFailures, &a.convBudget, &a.dayBudget, &a.enabled, &a.updatedAt)
	return a, schema.OneRow(err)
}

func (a assistantRow) doc(knowledge []KnowledgeEntry) AssistantDoc {
	if knowledge == nil {
		knowledge = []KnowledgeEntry{}
	}
	return AssistantDoc{ID: a.id, StoreID: a.storeID, Name: a.name, Greeting: a.greeting, Instructions: a.instructions,
		Model: a.model, Provider: a.provider, HandoffRules: HandoffRules{Keywords: a.keywords, MaxFailures: a.maxFailures},
		Knowledge: knowledge, Budgets: Budgets{ConversationTokens: a.convBudget, DailyTokens: a.dayBudget},
		Enabled: a.enabled, UpdatedAt: a.updatedAt}
}

func text(field string, v *string, max int, required bool) (string, error) {
	if v == nil {
		return "", nil
	}
	s := strings.TrimSpace(*v)
	if required && s == "" {
		return "", functions.Invalid("%s must not be empty", field)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return "", functions.Invalid("%s: at most %d characters, got %d", field, max, n)
	}
	return s, nil
}

// upsertAssistant creates or updates the caller's org's assistant for
// storeId (none: the org's own). Fields not given keep their value (or
// their default on create).
func (s *Service) upsertAssistant(c *functions.MutationCtx, a UpsertAssistantArgs) (AssistantDoc, error) {
	id, err := s.requireAgent(c.Identity())
	if err != nil {
		return AssistantDoc{}, err
	}
	name, err := text("name", &a.Name, MaxNameChars, true)
	if err != nil {
		return AssistantDoc{}, err
	}
	var store *string
	if a.StoreID != nil && *a.StoreID != "" {
		var found bool
		if err := c.Tx.QueryRow(c.Ctx, `SELECT EXISTS (SELECT 1 FROM stores WHERE id = $1 AND org_id = $2)`, *a.StoreID, id.Org).Scan(&found); err != nil {
			return AssistantDoc{}, fmt.Errorf("read store: %w", err)
		}
		if !found {
			return AssistantDoc{}, ErrStoreNotFound
		}
		store = a.StoreID
	}
	cur, err := scanAssistant(c.Tx.QueryRow(c.Ctx, `SELECT `+assistantCols+` FROM assistants
		WHERE org_id = $1 AND coalesce(store_id, '') = coalesce($2, '') FOR UPDATE`, id.Org, store))
	created := errors.Is(err, schema.ErrNoRow)
	if err != nil && !created {
		return AssistantDoc{}, err
	}
	if created {
		cur = assistantRow{id: schema.NewID("asst"), org: id.Org, storeID: store, provider: ProviderBuiltin, keywords: []string{},
			maxFailures: 2, convBudget: 20000, dayBudget: 1000000, enabled: true}
	}
	cur.name = name
	if a.Greeting != nil {
		if cur.greeting, err = text("greeting", a.Greeting, MaxGreetingChars, false); err != nil {
			return AssistantDoc{}, err
		}
	}
	if a.Instructions != nil {
		if cur.instructions, err = text("instructions", a.Instructions, MaxInstructionsChars, false); err != nil {
			return AssistantDoc{}, err
		}
	}
	if a.Model != nil {
		if cur.model, err = text("model", a.Model, MaxModelChars, false); err != nil {
			return AssistantDoc{}, err
		}
	}
	if a.Provider != nil {
		if *a.Provider != ProviderBuiltin && *a.Provider != ProviderOpenAI {
			return AssistantDoc{}, functions.Invalid(`provider must be "builtin" or "openai", got %q`, *a.Provider)
		}
		cur.provider = *a.Provider
	}
	if h := a.HandoffRules; h != nil {
		if h.Keywords != nil {
			if cur.keywords, err = keywords(*h.Keywords); err != nil {
				return AssistantDoc{}, err
			}
		}
		if h.MaxFailures != nil {
			if *h.MaxFailures < 1 || *h.MaxFailures > 20 {
				return AssistantDoc{}, functions.Invalid("handoffRules.maxFailures must be between 1 and 20, got %d", *h.MaxFailures)
			}
			cur.maxFailures = *h.MaxFailures
		}
	}
	if b := a.Budgets; b != nil {
		if b.ConversationTokens != nil {
			if *b.ConversationTokens < 1 {
				return AssistantDoc{}, functions.Invalid("budgets.conversationTokens must be positive, got %d", *b.ConversationTokens)
			}
			cur.convBudget = *b.ConversationTokens
		}
		if b.DailyTokens != nil {
			if *b.DailyTokens < 1 {
				return AssistantDoc{}, functions.Invalid("budgets.dailyTokens must be positive, got %d", *b.DailyTokens)
			}
			cur.dayBudget = *b.DailyTokens
		}
	}
	if a.Enabled != nil {
		cur.enabled = *a.Enabled
	}
	var knowledge []KnowledgeEntry
	if a.Knowledge != nil {
		if knowledge, err = checkKnowledge(*a.Knowledge); err != nil {
			return AssistantDoc{}, err
		}
	}
	now := c.Now()
	if _, err := c.Tx.Exec(c.Ctx, `INSERT INTO assistants (id, org_id, store_id, name, greeting, instructions, provider, model,
			handoff_keywords, max_failures, conversation_budget, daily_budget, enabled, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)
		ON CONFLICT (id) DO UPDATE SET name = $4, greeting = $5, instructions = $6, provider = $7, model = $8,
			handoff_keywords = $9, max_failures = $10, conversation_budget = $11, daily_budget = $12, enabled = $13, updated_at = $14`,
		cur.id, cur.org, cur.storeID, cur.name, cur.greeting, cur.instructions, cur.provider, cur.model, cur.keywords,
		cur.maxFailures, cur.convBudget, cur.dayBudget, cur.enabled, now); err != nil {
		return AssistantDoc{}, fmt.Errorf("save assistant: %w", err)
	}
	if a.Knowledge != nil {
		if _, err := c.Tx.Exec(c.Ctx, `DELETE FROM assistant_faq WHERE assistant_id = $1`, cur.id); err != nil {
			return AssistantDoc{}, fmt.Errorf("save knowledge: %w", err)
		}
		for i, k := range knowledge {
			if _, err := c.Tx.Exec(c.Ctx, `INSERT INTO assistant_faq (id, assistant_id, question, answer, position) VALUES ($1, $2, $3, $4, $5)`,
				schema.NewID("faq"), cur.id, k.Question, k.Answer, i); err != nil {
				return AssistantDoc{}, fmt.Errorf("save knowledge: %w", err)
			}
		}
	} else if knowledge, err = readKnowledge(c.Ctx, c.Tx, cur.id); err != nil {
		return AssistantDoc{}, err
	}
	cur.updatedAt = now.UnixMilli()
	return cur.doc(knowledge), nil
}

func keywords(in []string) ([]string, error) {
	if len(in) > MaxKeywords {
		return nil, functions.Invalid("handoffRules.keywords: at most %d, got %d", MaxKeywords, len(in))
	}
	out := []string{}
	for _, k := range in {
		k = strings.ToLower(strings.TrimSpace(k))
		if k == "" {
			return nil, functions.Invalid("handoffRules.keywords must not contain empty keywords")
		}
		if n := utf8.RuneCountInString(k); n > MaxKeywordChars {
			return nil, functions.Invalid("handoffRules.keywords: at most %d characters each, got %d", MaxKeywordChars, n)
		}
		out = append(out, k)
	}
	return out, nil
}

func checkKnowledge(in []KnowledgeEntry) ([]KnowledgeEntry, error) {
	if len(in) > MaxKnowledge {
		return nil, functions.Invalid("knowledge: at most %d entries, got %d", MaxKnowledge, len(in))
	}
	out := make([]KnowledgeEntry, len(in))
	for i, k := range in {
		q, a := strings.TrimSpace(k.Question), strings.TrimSpace(k.Answer)
		if q == "" || a == "" {
			return nil, functions.Invalid("knowledge[%d]: question and answer must not be empty", i)
		}
		if n := utf8.RuneCountInString(q); n > MaxQuestionChars {
			return nil, functions.Invalid("knowledge[%d].question: at most %d characters, got %d", i, MaxQuestionChars, n)
		}
		if n := utf8.RuneCountInString(a); n > MaxAnswerChars {
			return nil, functions.Invalid("knowledge[%d].answer: at most %d characters, got %d", i, MaxAnswerChars, n)
		}
		out[i] = KnowledgeEntry{Question: q, Answer: a}
	}
	return out, nil
}

func readKnowledge(ctx context.Context, q schema.Querier, assistantID string) ([]KnowledgeEntry, error) {
	rows, err := q.Query(ctx, `SELECT question, answer FROM assistant_faq WHERE assistant_id = $1 ORDER BY position`, assistantID)
	if err != nil {
		return nil, fmt.Errorf("read knowledge: %w", err)
	}
	out := []KnowledgeEntry{}
	var k KnowledgeEntry
	_, err = pgx.ForEachRow(rows, []any{&k.Question, &k.Answer}, func() error { out = append(out, k); return nil })
	if err != nil {
		return nil, fmt.Errorf("read knowledge: %w", err)
	}
	return out, nil
}

// listAssistants lists the caller's org's assistants with their
// knowledge.
func (s *Service) listAssistants(c *functions.QueryCtx, _ struct{}) ([]AssistantDoc, error) {
	id, err := s.requireAgent(c.Identity())
	if err != nil {
		return nil, err
	}
	c.DB.Record(schema.Dep{Table: "assistants", Column: "org_id", Value: id.Org})
	rows, err := c.DB.Querier().Query(c.Ctx, `SELECT `+assistantCols+` FROM assistants WHERE org_id = $1 ORDER BY store_id NULLS FIRST, id`, id.Org)
	if err != nil {
		return nil, fmt.Errorf("list assistants: %w", err)
	}
	var list []assistantRow
	for rows.Next() {
		a, err := scanAssistant(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		list = append(list, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list assistants: %w", err)
	}
	out := make([]AssistantDoc, 0, len(list))
	for _, a := range list {
		c.DB.Record(schema.Dep{Table: "assistant_faq", Column: "assistant_id", Value: a.id})
		k, err := readKnowledge(c.Ctx, c.DB.Querier(), a.id)
		if err != nil {
			return nil, err
		}
		out = append(out, a.doc(k))
	}
	return out, nil
}
