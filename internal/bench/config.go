package bench

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
)

// Scenario names, in the order Run runs them.
const (
	ScenarioA      = "a"      // many two-party conversations
	ScenarioB      = "b"      // one hot conversation, many viewers
	ScenarioC      = "c"      // matching cost: idle subscriptions elsewhere
	ScenarioD      = "d"      // peak sendMessage throughput, closed loop
	ScenarioStall  = "stall"  // clients that stop reading
	ScenarioGap    = "gap"    // a replication gap's catch-up
	ScenarioE      = "e"      // an edit's and an acknowledgement's push to many viewers
	ScenarioSearch = "search" // searchMessages over a million messages
	ScenarioSoak   = "soak"   // a's load for half an hour, with faults (only when asked for)
)

// AllScenarios lists every scenario in the order Run runs them.
var AllScenarios = []string{ScenarioA, ScenarioB, ScenarioC, ScenarioD, ScenarioStall, ScenarioGap, ScenarioE, ScenarioSearch}

// ExtraScenarios run only when named: they take far longer than a
// measurement.
var ExtraScenarios = []string{ScenarioSoak}

// ErrConfig wraps every configuration error New reports.
var ErrConfig = errors.New("bench: bad configuration")

// Config configures a Runner. Defaults returns the standard sizes of
// `make bench`; Quick returns them scaled down about 100× for smoke tests.
type Config struct {
	// URLs are the base URLs of the server's nodes (http://127.0.0.1:3210),
	// all of one cluster on one database: the sessions of every scenario
	// are spread over them round robin (see nodes.go), the server's
	// metrics are scraped from each and merged (package scrape). Required:
	// at least one. A URL may repeat; its node is then scraped once.
	URLs []string
	// DatabaseURL is a connection string to the server's database, used
	// to seed bench data, to write messages by direct SQL and to read the
	// durability settings. Required.
	DatabaseURL string
	// Mint signs a token for an identity the server accepts. Required.
	// Called from many goroutines at once.
	Mint func(functions.Identity) (string, error)

	// Scenarios to run, a subset of AllScenarios; Run keeps the order of
	// AllScenarios. Nil means all.
	Scenarios []string
	// Duration is each scenario's measurement window. Zero means 30s.
	Duration time.Duration
	// WarmUp runs the load before the window opens; what happens then is
	// not measured. Zero means no warm-up.
	WarmUp time.Duration
	// Drain bounds the wait, after the last write, for pushes still on
	// their way. Zero means 15s.
	Drain time.Duration
	// SQLShare is the share (0..1) of the writes of scenarios a, b, c and
	// stall made by direct SQL instead of sendMessage. Zero means every
	// write is a sendMessage mutation; d always uses sendMessage.
	SQLShare float64
	// PageSize is the limit of every getMessages subscription. Zero means
	// 20.
	PageSize int
	// DialConcurrency bounds the sessions connecting at once. Zero means 64.
	DialConcurrency int
	// MaxInFlight bounds the writes an open loop has outstanding; a write
	// due while that many are outstanding is skipped and counted. Zero
	// means 2,000.
	MaxInFlight int
	// MaxOpenFiles is the process's file descriptor limit; New refuses
	// sizes that need more connections than it allows. Zero means no
	// check.
	MaxOpenFiles int

	A      ConfigA
	B      ConfigB
	C      ConfigC
	D      ConfigD
	Stall  ConfigStall
	Gap    ConfigGap
	E      ConfigE
	Search ConfigSearch
	Soak   ConfigSoak

	// Logger receives progress. Nil discards it.
	Logger *slog.Logger
}

// ConfigA sizes scenario a: Sessions sessions over Conversations two-party
// conversations (a customer and the staff of the conversation's store;
// more sessions than two per conversation add staff), Rate writes/s.
type ConfigA struct {
	Sessions      int     // zero means 10,000
	Conversations int     // zero means 5,000
	Rate          float64 // writes per second; zero means 200
}

// ConfigB sizes scenario b: one conversation watched by Viewers sessions
// (its customer and the staff of its store), Rate writes/s. Its viewers
// subscribe getMessages with limit Page: the server coalesces pushes per
// query, so a viewer sees every message only while no more than a page
// arrives between two of its results; 100 (getMessages' most) leaves room
// for pushes that bunch up.
type ConfigB struct {
	Viewers int     // zero means 1,000
	Rate    float64 // zero means 20
	Page    int     // zero means 100
}

// ConfigC sizes scenario c: Conversations active two-party conversations
// written at Rate writes/s, measured once for every entry of Idle: that
// many idle subscriptions (getMessages of other conversations, which
// nobody writes), IdlePerSession to a session.
type ConfigC struct {
	Conversations  int     // zero means 100
	Rate           float64 // zero means 100
	Idle           []int   // ascending; nil means 1,000 and 100,000
	IdlePerSession int     // zero means 10
}

// ConfigD sizes scenario d: Subscribers sessions (two per conversation),
// Writers of them calling sendMessage in a closed loop.
type ConfigD struct {
	Subscribers int // zero means 1,000
	Writers     int // zero means 32
}

// ConfigStall sizes the stall scenario: Viewers healthy sessions and
// Clients clients that subscribe and then never read, all on one
// conversation written at Rate writes/s of messages padded to
// ContentBytes, for Duration.
type ConfigStall struct {
	Clients      int           // zero means 100
	Viewers      int           // zero means 10
	Rate         float64       // zero means 50
	ContentBytes int           // zero means 1,000
	Duration     time.Duration // zero means 40s
}

// ConfigGap sizes the gap scenario: Subscriptions idle subscriptions
// (PerSession to a session) and Conversations active two-party
// conversations; Rounds times the replication stream is cut and Writes
// messages are committed by SQL before it is back.
type ConfigGap struct {
	Subscriptions int // zero means 100,000
	PerSession    int // zero means 50
	Conversations int // zero means 10
	Rounds        int // zero means 3
	Writes        int // zero means 20
}

// ConfigE sizes scenario e: one conversation watched by Viewers sessions
// (its customer and the staff of its store, lite clients, as b's), where
// its customer edits a message of theirs and one of the staff
// acknowledges the customer's new messages (markDelivered), one operation
// at a time, at most Rate a second: each waits until every viewer has its
// push, or Config.Drain has passed.
type ConfigE struct {
	Viewers int     // zero means 1,000
	Rate    float64 // operations per second, at most; zero means 10
}

// ConfigSearch sizes the search scenario: Messages messages in
// Conversations conversations of one store, PerCustomer to a customer,
// searched by searchMessages with limit Limit, one call at a time, for
// Config.Duration per kind of query.
type ConfigSearch struct {
	Messages      int // zero means 1,000,000
	Conversations int // zero means 1,000
	PerCustomer   int // zero means 10
	Limit         int // zero means 20 (searchMessages' default)
}

// ConfigSoak sizes the soak: scenario a's sessions and rate (Config.A)
// for Duration, a fault every FaultEvery, the server sampled every Sample;
// the samples go to CSV and an SVG plot to SVG where those are set.
type ConfigSoak struct {
	Duration   time.Duration // zero means 30m
	FaultEvery time.Duration // zero means 2m
	Sample     time.Duration // zero means 10s
	CSV, SVG   string
}

// Defaults returns the standard scenario sizes (issue 4's).
func Defaults() Config {
	return Config{
		Duration: 30 * time.Second, WarmUp: 5 * time.Second, Drain: 15 * time.Second,
		SQLShare: 0.25, PageSize: 20, DialConcurrency: 64, MaxInFlight: 2000,
		A:      ConfigA{Sessions: 10000, Conversations: 5000, Rate: 200},
		B:      ConfigB{Viewers: 1000, Rate: 20, Page: 100},
		C:      ConfigC{Conversations: 100, Rate: 100, Idle: []int{1000, 100000}, IdlePerSession: 10},
		D:      ConfigD{Subscribers: 1000, Writers: 32},
		Stall:  ConfigStall{Clients: 100, Viewers: 10, Rate: 50, ContentBytes: 1000, Duration: 40 * time.Second},
		Gap:    ConfigGap{Subscriptions: 100000, PerSession: 50, Conversations: 10, Rounds: 3, Writes: 20},
		E:      ConfigE{Viewers: 1000, Rate: 10},
		Search: ConfigSearch{Messages: 1000000, Conversations: 1000, PerCustomer: 10, Limit: 20},
		Soak:   ConfigSoak{Duration: 30 * time.Minute, FaultEvery: 2 * time.Minute, Sample: 10 * time.Second},
	}
}

// Quick returns Defaults scaled down about 100× (rates about 10×, so a
// short window still holds samples): a smoke run of every scenario in
// seconds. Its stall phase is too short for the server to give up on the
// stalled clients.
func Quick() Config {
	return Config{
		Duration: time.Second, WarmUp: 200 * time.Millisecond, Drain: 5 * time.Second,
		SQLShare: 0.25, PageSize: 20, DialConcurrency: 16, MaxInFlight: 200,
		A:      ConfigA{Sessions: 100, Conversations: 50, Rate: 20},
		B:      ConfigB{Viewers: 10, Rate: 10, Page: 100},
		C:      ConfigC{Conversations: 5, Rate: 10, Idle: []int{10, 1000}, IdlePerSession: 10},
		D:      ConfigD{Subscribers: 10, Writers: 4},
		Stall:  ConfigStall{Clients: 3, Viewers: 2, Rate: 10, ContentBytes: 1000, Duration: time.Second},
		Gap:    ConfigGap{Subscriptions: 1000, PerSession: 50, Conversations: 2, Rounds: 2, Writes: 4},
		E:      ConfigE{Viewers: 10, Rate: 10},
		Search: ConfigSearch{Messages: 2000, Conversations: 20, PerCustomer: 5, Limit: 20},
		Soak:   ConfigSoak{Duration: 6 * time.Second, FaultEvery: 2 * time.Second, Sample: 500 * time.Millisecond},
	}
}

// fill validates c and fills zero fields with Defaults.
func (c *Config) fill() error {
	if len(c.URLs) == 0 || c.DatabaseURL == "" || c.Mint == nil {
		return fmt.Errorf("%w: URLs, DatabaseURL and Mint are required", ErrConfig)
	}
	for _, u := range c.URLs {
		if err := checkURL(u); err != nil {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	if len(c.Scenarios) == 0 {
		c.Scenarios = AllScenarios
	}
	for _, s := range c.Scenarios {
		if !slices.Contains(AllScenarios, s) && !slices.Contains(ExtraScenarios, s) {
			return fmt.Errorf("%w: unknown scenario %q (want a, b, c, d, stall, gap, e, search or soak)", ErrConfig, s)
		}
	}

	d := Defaults()
	setDefault(&c.Duration, d.Duration)
	setDefault(&c.Drain, d.Drain)
	setDefault(&c.PageSize, d.PageSize)
	setDefault(&c.DialConcurrency, d.DialConcurrency)
	setDefault(&c.MaxInFlight, d.MaxInFlight)
	setDefault(&c.A.Sessions, d.A.Sessions)
	setDefault(&c.A.Conversations, d.A.Conversations)
	setDefault(&c.A.Rate, d.A.Rate)
	setDefault(&c.B.Viewers, d.B.Viewers)
	setDefault(&c.B.Rate, d.B.Rate)
	setDefault(&c.B.Page, d.B.Page)
	setDefault(&c.C.Conversations, d.C.Conversations)
	setDefault(&c.C.Rate, d.C.Rate)
	if len(c.C.Idle) == 0 {
		c.C.Idle = d.C.Idle
	}
	setDefault(&c.C.IdlePerSession, d.C.IdlePerSession)
	setDefault(&c.D.Subscribers, d.D.Subscribers)
	setDefault(&c.D.Writers, d.D.Writers)
	setDefault(&c.Stall.Clients, d.Stall.Clients)
	setDefault(&c.Stall.Viewers, d.Stall.Viewers)
	setDefault(&c.Stall.Rate, d.Stall.Rate)
	setDefault(&c.Stall.ContentBytes, d.Stall.ContentBytes)
	setDefault(&c.Stall.Duration, d.Stall.Duration)
	setDefault(&c.Gap.Subscriptions, d.Gap.Subscriptions)
	setDefault(&c.Gap.PerSession, d.Gap.PerSession)
	setDefault(&c.Gap.Conversations, d.Gap.Conversations)
	setDefault(&c.Gap.Rounds, d.Gap.Rounds)
	setDefault(&c.Gap.Writes, d.Gap.Writes)
	setDefault(&c.E.Viewers, d.E.Viewers)
	setDefault(&c.E.Rate, d.E.Rate)
	setDefault(&c.Search.Messages, d.Search.Messages)
	setDefault(&c.Search.Conversations, d.Search.Conversations)
	setDefault(&c.Search.PerCustomer, d.Search.PerCustomer)
	setDefault(&c.Search.Limit, d.Search.Limit)
	setDefault(&c.Soak.Duration, d.Soak.Duration)
	setDefault(&c.Soak.FaultEvery, d.Soak.FaultEvery)
	setDefault(&c.Soak.Sample, d.Soak.Sample)

	switch {
	case c.WarmUp < 0:
		return fmt.Errorf("%w: negative warm-up", ErrConfig)
	case c.SQLShare < 0 || c.SQLShare > 1:
		return fmt.Errorf("%w: SQL share %v is not between 0 and 1", ErrConfig, c.SQLShare)
	case c.PageSize > chat.MaxMessageLimit:
		return fmt.Errorf("%w: page size %d exceeds getMessages' limit of %d", ErrConfig, c.PageSize, chat.MaxMessageLimit)
	case c.B.Page > chat.MaxMessageLimit:
		return fmt.Errorf("%w: b's page size %d exceeds getMessages' limit of %d", ErrConfig, c.B.Page, chat.MaxMessageLimit)
	case c.A.Sessions < c.A.Conversations:
		return fmt.Errorf("%w: scenario a needs at least one session per conversation (%d sessions, %d conversations)",
			ErrConfig, c.A.Sessions, c.A.Conversations)
	case !slices.IsSorted(c.C.Idle) || c.C.Idle[0] < 0:
		return fmt.Errorf("%w: idle subscription counts %v must ascend from 0 or more", ErrConfig, c.C.Idle)
	case c.D.Writers > c.D.Subscribers:
		return fmt.Errorf("%w: scenario d has %d writers but only %d subscribers; writers are subscribers", ErrConfig, c.D.Writers, c.D.Subscribers)
	case c.E.Viewers < 2:
		return fmt.Errorf("%w: scenario e needs at least 2 viewers (the customer who edits, a staff member who acknowledges)", ErrConfig)
	case c.Search.Limit > chat.MaxSearchLimit:
		return fmt.Errorf("%w: search limit %d exceeds searchMessages' limit of %d", ErrConfig, c.Search.Limit, chat.MaxSearchLimit)
	case c.Search.Conversations < c.Search.PerCustomer || c.Search.Messages < c.Search.Conversations:
		return fmt.Errorf("%w: search needs at least a customer's conversations (%d) and a message per conversation (%d conversations, %d messages)",
			ErrConfig, c.Search.PerCustomer, c.Search.Conversations, c.Search.Messages)
	case c.Stall.ContentBytes > chat.MaxContentChars-100:
		return fmt.Errorf("%w: stall content of %d bytes exceeds a message's limit", ErrConfig, c.Stall.ContentBytes)
	}
	if c.MaxOpenFiles > 0 {
		if need := c.connections() + 200; need > c.MaxOpenFiles {
			return fmt.Errorf("%w: the sizes need about %d open files, the limit is %d (raise ulimit -n, or lower the sizes)",
				ErrConfig, need, c.MaxOpenFiles)
		}
	}
	return nil
}

// connections is the most WebSocket connections one scenario opens.
func (c *Config) connections() int {
	most := 0
	for _, s := range c.Scenarios {
		n := 0
		switch s {
		case ScenarioA, ScenarioSoak:
			n = c.A.Sessions
		case ScenarioB:
			n = c.B.Viewers
		case ScenarioC:
			n = 2*c.C.Conversations + ceilDiv(c.C.Idle[len(c.C.Idle)-1], c.C.IdlePerSession)
		case ScenarioD:
			n = c.D.Subscribers
		case ScenarioStall:
			n = c.Stall.Viewers + c.Stall.Clients
		case ScenarioGap:
			n = 2*c.Gap.Conversations + ceilDiv(c.Gap.Subscriptions, c.Gap.PerSession)
		case ScenarioE:
			n = c.E.Viewers
		}
		most = max(most, n)
	}
	return most
}

// ParseURLs splits a comma-separated list of node base URLs (the --url
// of `parley bench`) and checks each: http or https, a host, no query.
// Spaces around a URL are ignored; an empty entry is an error.
func ParseURLs(list string) ([]string, error) {
	var urls []string
	for i, u := range strings.Split(list, ",") {
		u = strings.TrimSpace(u)
		if u == "" {
			return nil, fmt.Errorf("URL %d of %q is empty", i+1, list)
		}
		if err := checkURL(u); err != nil {
			return nil, err
		}
		urls = append(urls, u)
	}
	return urls, nil
}

// checkURL checks that u is a node's base URL.
func checkURL(u string) error {
	p, err := url.Parse(u)
	switch {
	case !strings.Contains(u, "://"):
		return fmt.Errorf("bad URL %q: want http:// or https://", u)
	case err != nil:
		return fmt.Errorf("bad URL %q: %w", u, err)
	case p.Scheme != "http" && p.Scheme != "https":
		return fmt.Errorf("bad URL %q: want http:// or https://", u)
	case p.Host == "":
		return fmt.Errorf("bad URL %q: no host", u)
	case p.RawQuery != "" || p.Fragment != "":
		return fmt.Errorf("bad URL %q: a base URL has no query or fragment", u)
	}
	return nil
}

// setDefault sets *v to def when it is zero or negative.
func setDefault[T int | float64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
