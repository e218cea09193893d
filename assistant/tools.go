package assistant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/assistant/llm"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

// The tools an assistant may call.
const (
	ToolOrderStatus = "get_order_status"
	ToolSearchFAQ   = "search_faq"
	ToolTransfer    = "transfer_chat_to_agent"
)

// MinCoverage is the share of a question's words an FAQ entry must match
// to be a confident answer.
const MinCoverage = 0.5

func tools() []llm.Tool {
	obj := func(props map[string]any, required ...string) map[string]any {
		return map[string]any{"type": "object", "properties": props, "required": required}
	}
	str := func(desc string) map[string]any { return map[string]any{"type": "string", "description": desc} }
	return []llm.Tool{
		{Name: ToolOrderStatus, Description: "Look up the status of one of the customer's own orders.",
			Parameters: obj(map[string]any{"orderId": str("The order's id")}, "orderId")},
		{Name: ToolSearchFAQ, Description: "Search the store's FAQ for entries that answer a question.",
			Parameters: obj(map[string]any{"query": str("The question, in the customer's words")}, "query")},
		{Name: ToolTransfer, Description: "Hand the conversation to a human support agent. Use it when the customer asks for a person or you cannot help.",
			Parameters: obj(map[string]any{"reason": str("Why, for the agent"),
				"skills": map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "description": "Skills the agent needs (billing, shipping, …)"}}, "reason")},
	}
}

// toolResult is what a tool answers the model (as JSON) and, in short,
// the customer's widget (Line).
type toolResult struct {
	Error   string     `json:"error,omitempty"`
	Order   *orderInfo `json:"order,omitempty"`
	Entries []faqHit   `json:"entries,omitempty"`
	// Transfer is set by transfer_chat_to_agent: the run ends with a
	// hand-off.
	Transfer *transfer `json:"transfer,omitempty"`
}

type orderInfo struct {
	ID     string `json:"id"`
	Store  string `json:"store"`
	Status string `json:"status"`
	Total  string `json:"total"`
	Date   string `json:"date"`
}

type faqHit struct {
	Question  string  `json:"question"`
	Answer    string  `json:"answer"`
	Coverage  float64 `json:"coverage"`
	Confident bool    `json:"confident"`
}

type transfer struct {
	Reason string   `json:"reason"`
	Skills []string `json:"skills,omitempty"`
}

// line is the tool step as the customer's widget shows it.
func (r toolResult) line(tool string) string {
	switch {
	case r.Error != "":
		return r.Error
	case r.Order != nil:
		return "Order " + r.Order.ID + ": " + r.Order.Status
	case r.Transfer != nil:
		return "Transferring to an agent"
	case tool == ToolSearchFAQ && len(r.Entries) > 0 && r.Entries[0].Confident:
		return "Found: " + r.Entries[0].Question
	case tool == ToolSearchFAQ:
		return "No matching FAQ entry"
	}
	return ""
}

// runTool runs call for customer, as the customer: get_order_status sees
// only their own orders at a store of their org, search_faq only the
// assistant's entries.
func runTool(ctx context.Context, q schema.Querier, customer *functions.Identity, assistantID string, call llm.ToolCall) toolResult {
	var args map[string]any
	if err := json.Unmarshal([]byte(call.Arguments), &args); err != nil {
		return toolResult{Error: "the tool's arguments are not a JSON object"}
	}
	str := func(k string) string { s, _ := args[k].(string); return strings.TrimSpace(s) }
	switch call.Name {
	case ToolOrderStatus:
		id := str("orderId")
		if id == "" {
			return toolResult{Error: "orderId is required"}
		}
		o, err := customerOrder(ctx, q, customer, id)
		if err != nil {
			return toolResult{Error: err.Error()}
		}
		return toolResult{Order: o}
	case ToolSearchFAQ:
		hits, err := searchFAQ(ctx, q, assistantID, str("query"), 3)
		if err != nil {
			return toolResult{Error: "the FAQ could not be searched"}
		}
		return toolResult{Entries: hits}
	case ToolTransfer:
		t := &transfer{Reason: str("reason")}
		if t.Reason == "" {
			t.Reason = "The assistant handed the conversation over"
		}
		if sk, ok := args["skills"].([]any); ok {
			for _, s := range sk {
				if v, ok := s.(string); ok {
					t.Skills = append(t.Skills, v)
				}
			}
		}
		return toolResult{Transfer: t}
	}
	return toolResult{Error: fmt.Sprintf("there is no tool %q", call.Name)}
}

// errOrderNotFound is the answer for an order that is not the
// customer's: the same for one that does not exist.
var errOrderNotFound = errors.New("order not found")

func customerOrder(ctx context.Context, q schema.Querier, customer *functions.Identity, id string) (*orderInfo, error) {
	var o orderInfo
	var at time.Time
	err := q.QueryRow(ctx, `SELECT o.id, s.name, o.status, o.total_amount::text, o.order_date FROM orders o
		JOIN stores s ON s.id = o.store_id WHERE o.id = $1 AND o.customer_id = $2 AND s.org_id = $3`,
		id, customer.Subject, customer.Org).Scan(&o.ID, &o.Store, &o.Status, &o.Total, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errOrderNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read order: %w", err)
	}
	o.Date = at.UTC().Format("January 2, 2006")
	return &o, nil
}

// searchFAQ finds the assistant's entries that share words with query,
// best first: coverage is the share of query's words (as Postgres'
// english configuration stems them) an entry has.
func searchFAQ(ctx context.Context, q schema.Querier, assistantID, query string, limit int) ([]faqHit, error) {
	rows, err := q.Query(ctx, `WITH words AS (SELECT tsvector_to_array(to_tsvector('english', $2)) AS lx)
		SELECT f.question, f.answer,
			(SELECT count(*) FROM unnest(w.lx) l WHERE f.search @@ to_tsquery('simple', quote_literal(l)))::float8
				/ greatest(cardinality(w.lx), 1) AS coverage
		FROM assistant_faq f, words w
		WHERE f.assistant_id = $1 AND cardinality(w.lx) > 0
			AND f.search @@ to_tsquery('simple', (SELECT string_agg(quote_literal(l), ' | ') FROM unnest(w.lx) l))
		ORDER BY coverage DESC, f.position LIMIT $3`, assistantID, query, limit)
	if err != nil {
		return nil, fmt.Errorf("search faq: %w", err)
	}
	var out []faqHit
	var h faqHit
	_, err = pgx.ForEachRow(rows, []any{&h.Question, &h.Answer, &h.Coverage}, func() error {
		h.Confident = h.Coverage >= MinCoverage
		out = append(out, h)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("search faq: %w", err)
	}
	return out, nil
}
