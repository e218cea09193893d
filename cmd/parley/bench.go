package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/functions/jwtauth"
	"github.com/parley-chat/parley/internal/bench"
)

// databaseURLFile is where `parley dev` leaves its database URL for
// `parley bench --data DIR`.
const databaseURLFile = "database.url"

// benchTokenTTL is the lifetime of the tokens the bench mints.
const benchTokenTTL = 12 * time.Hour

// benchOptions are the flags of `parley bench` that are not bench.Config.
type benchOptions struct {
	url, data, databaseURL, secret, jsonFile, scenario, idle, logLevel string
	cpuProfile                                                         string
	quick                                                              bool
	urls                                                               []string // --url, parsed
}

// benchFlags returns the flag set of `parley bench`, with cfg's values as
// defaults; its flags write into cfg and o, its messages go to out.
func benchFlags(cfg *bench.Config, o *benchOptions, out io.Writer) *flag.FlagSet {
	fl := flag.NewFlagSet("parley bench", flag.ContinueOnError)
	fl.SetOutput(out)
	fl.Usage = func() {
		fmt.Fprint(fl.Output(), "Usage: parley bench [flags]\n\nDrives a running Parley with the standard load scenarios and prints one table.\n\n")
		fl.PrintDefaults()
	}
	fl.StringVar(&o.url, "url", "http://127.0.0.1:3210", "the server's base URL, or a comma list of the base URLs of one cluster's nodes (one database):\n"+
		"sessions are spread over them round robin; each is scraped, node metrics (parley_*) summed over the URLs (a URL named twice counts once),\n"+
		"process metrics (CPU, RSS) over distinct processes by process_start_time_seconds (parley dev --nodes N is one process)")
	fl.StringVar(&o.data, "data", ".parley", `data directory of "parley dev": its dev-secret and database.url`)
	fl.StringVar(&o.databaseURL, "database-url", "", "the server's database (default: read from --data)")
	fl.StringVar(&o.secret, "jwt-secret", "", "the server's HS256 secret (default: the dev secret in --data)")
	fl.StringVar(&o.jsonFile, "json", "", "also write the report as JSON to this file")
	fl.StringVar(&o.scenario, "scenario", "all", "scenarios to run: all (a, b, c, d, stall, gap, e, search), or a comma list of those and soak")
	fl.BoolVar(&o.quick, "quick", false, "scale every size down about 100× (a smoke run); explicit flags still win")
	fl.StringVar(&o.logLevel, "log-level", "info", "progress log level: debug, info, warn, error")
	fl.StringVar(&o.cpuProfile, "cpuprofile", "", "write the bench process's own CPU profile to this file")

	fl.DurationVar(&cfg.Duration, "duration", cfg.Duration, "measurement window of each scenario")
	fl.DurationVar(&cfg.WarmUp, "warmup", cfg.WarmUp, "load before the window opens, not measured")
	fl.DurationVar(&cfg.Drain, "drain", cfg.Drain, "longest wait after the last write for pushes still on their way")
	fl.Float64Var(&cfg.SQLShare, "sql-share", cfg.SQLShare, "share of writes (a, b, c, stall) made by direct SQL instead of sendMessage, 0..1")
	fl.IntVar(&cfg.PageSize, "page", cfg.PageSize, "limit of every getMessages subscription")
	fl.IntVar(&cfg.DialConcurrency, "dial-concurrency", cfg.DialConcurrency, "sessions connecting at once")
	fl.IntVar(&cfg.MaxInFlight, "max-in-flight", cfg.MaxInFlight, "open loop: most writes outstanding; more are skipped and reported")

	fl.IntVar(&cfg.A.Sessions, "a-sessions", cfg.A.Sessions, "a: sessions")
	fl.IntVar(&cfg.A.Conversations, "a-conversations", cfg.A.Conversations, "a: two-party conversations")
	fl.Float64Var(&cfg.A.Rate, "a-rate", cfg.A.Rate, "a: writes per second")
	fl.IntVar(&cfg.B.Viewers, "b-viewers", cfg.B.Viewers, "b: sessions watching the hot conversation")
	fl.Float64Var(&cfg.B.Rate, "b-rate", cfg.B.Rate, "b: writes per second")
	fl.IntVar(&cfg.B.Page, "b-page", cfg.B.Page, "b: limit of the viewers' getMessages (--page is the other scenarios')")
	fl.IntVar(&cfg.C.Conversations, "c-conversations", cfg.C.Conversations, "c: active two-party conversations")
	fl.Float64Var(&cfg.C.Rate, "c-rate", cfg.C.Rate, "c: writes per second")
	fl.StringVar(&o.idle, "c-idle", joinInts(cfg.C.Idle), "c: idle subscription counts, ascending, one row each")
	fl.IntVar(&cfg.C.IdlePerSession, "c-idle-per-session", cfg.C.IdlePerSession, "c: idle subscriptions per session")
	fl.IntVar(&cfg.D.Subscribers, "d-subscribers", cfg.D.Subscribers, "d: sessions")
	fl.IntVar(&cfg.D.Writers, "d-writers", cfg.D.Writers, "d: sessions calling sendMessage in a closed loop")
	fl.IntVar(&cfg.Stall.Clients, "stall-clients", cfg.Stall.Clients, "stall: clients that stop reading")
	fl.IntVar(&cfg.Stall.Viewers, "stall-viewers", cfg.Stall.Viewers, "stall: healthy sessions on the same conversation")
	fl.Float64Var(&cfg.Stall.Rate, "stall-rate", cfg.Stall.Rate, "stall: writes per second")
	fl.IntVar(&cfg.Stall.ContentBytes, "stall-content-bytes", cfg.Stall.ContentBytes, "stall: bytes of padding in each message")
	fl.DurationVar(&cfg.Stall.Duration, "stall-duration", cfg.Stall.Duration, "stall: how long writes continue")
	fl.IntVar(&cfg.Gap.Subscriptions, "gap-subscriptions", cfg.Gap.Subscriptions, "gap: idle subscriptions live while replication is cut")
	fl.IntVar(&cfg.Gap.PerSession, "gap-per-session", cfg.Gap.PerSession, "gap: idle subscriptions per session")
	fl.IntVar(&cfg.Gap.Rounds, "gap-rounds", cfg.Gap.Rounds, "gap: times the replication stream is cut")
	fl.DurationVar(&cfg.Soak.Duration, "soak-duration", cfg.Soak.Duration, "soak: how long scenario a's load runs")
	fl.DurationVar(&cfg.Soak.FaultEvery, "soak-fault-every", cfg.Soak.FaultEvery, "soak: time between faults (walsender, then every server connection, terminated)")
	fl.DurationVar(&cfg.Soak.Sample, "soak-sample", cfg.Soak.Sample, "soak: time between samples of the server's RSS, goroutines, open files and lag")
	fl.StringVar(&cfg.Soak.CSV, "soak-csv", "", "soak: write the samples to this CSV file")
	fl.StringVar(&cfg.Soak.SVG, "soak-svg", "", "soak: plot the samples into this SVG file")
	fl.IntVar(&cfg.Gap.Writes, "gap-writes", cfg.Gap.Writes, "gap: messages committed by SQL while it is down, per round")
	fl.IntVar(&cfg.E.Viewers, "e-viewers", cfg.E.Viewers, "e: sessions watching the conversation whose message is edited and acknowledged")
	fl.Float64Var(&cfg.E.Rate, "e-rate", cfg.E.Rate, "e: edits (then acknowledgements) per second at most, one at a time")
	fl.IntVar(&cfg.Search.Messages, "search-messages", cfg.Search.Messages, "search: messages seeded (once: a seed of the same size is reused)")
	fl.IntVar(&cfg.Search.Conversations, "search-conversations", cfg.Search.Conversations, "search: conversations the messages are spread over")
	fl.IntVar(&cfg.Search.PerCustomer, "search-per-customer", cfg.Search.PerCustomer, "search: conversations per customer")
	fl.IntVar(&cfg.Search.Limit, "search-limit", cfg.Search.Limit, "search: limit of every searchMessages call")
	return fl
}

// parseBench parses the flags of `parley bench`: --quick switches the
// defaults to bench.Quick before the other flags apply.
func parseBench(args []string, stderr io.Writer) (bench.Config, benchOptions, error) {
	var o benchOptions
	cfg := bench.Defaults()
	fl := benchFlags(&cfg, &o, stderr)
	if err := fl.Parse(args); err != nil {
		return cfg, o, err
	}
	if fl.NArg() > 0 {
		return cfg, o, fmt.Errorf("parley bench: unexpected argument %q", fl.Arg(0))
	}
	if o.quick {
		cfg = bench.Quick()
		if err := benchFlags(&cfg, &o, io.Discard).Parse(args); err != nil {
			return cfg, o, err
		}
	}
	urls, err := bench.ParseURLs(o.url)
	if err != nil {
		return cfg, o, fmt.Errorf("--url: %w", err)
	}
	o.urls = urls
	idle, err := parseInts(o.idle)
	if err != nil {
		return cfg, o, fmt.Errorf("--c-idle: %w", err)
	}
	cfg.C.Idle = idle
	if o.scenario != "all" {
		cfg.Scenarios = strings.Split(o.scenario, ",")
	}
	return cfg, o, nil
}

func runBench(ctx context.Context, args []string) error {
	cfg, o, err := parseBench(args, os.Stderr)
	if err != nil {
		return err
	}
	log, err := newLogger(o.logLevel)
	if err != nil {
		return err
	}
	cfg.Logger = log
	cfg.URLs = o.urls
	dir, err := filepath.Abs(o.data)
	if err != nil {
		return err
	}
	cfg.DatabaseURL = o.databaseURL
	if cfg.DatabaseURL == "" {
		b, err := os.ReadFile(filepath.Join(dir, databaseURLFile))
		if err != nil {
			return fmt.Errorf("read database url: %w (run \"parley dev\" first, or pass --database-url)", err)
		}
		cfg.DatabaseURL = strings.TrimSpace(string(b))
	}
	secret := []byte(o.secret)
	if o.secret == "" {
		if secret, err = devSecret(dir, false); err != nil {
			return fmt.Errorf("%w, or pass --jwt-secret", err)
		}
	}
	cfg.Mint = func(id functions.Identity) (string, error) { return jwtauth.MintHS256(secret, id, benchTokenTTL) }
	if cfg.MaxOpenFiles, err = raiseOpenFiles(); err != nil {
		log.Warn("could not raise the open files limit", slog.Any("error", err))
	}
	r, err := bench.New(cfg)
	if err != nil {
		return err
	}
	if o.cpuProfile != "" {
		pf, err := os.Create(o.cpuProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	rep, runErr := r.Run(ctx)
	if rep == nil {
		return runErr
	}
	fmt.Println()
	if err := rep.WriteTable(os.Stdout); err != nil {
		return err
	}
	if o.jsonFile != "" {
		if err := writeJSONFile(o.jsonFile, rep); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "parley: wrote %s\n", o.jsonFile)
	}
	if runErr != nil {
		return runErr
	}
	for _, row := range rep.Rows {
		if row.Error != "" {
			return errors.New("some scenarios failed")
		}
	}
	return nil
}

func writeJSONFile(path string, rep *bench.Report) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := rep.WriteJSON(f); err != nil {
		f.Close()
		return fmt.Errorf("write report: %w", err)
	}
	return f.Close()
}

// raiseOpenFiles raises this process's soft open-files limit to its hard
// limit and returns the limit in force. Every session is a socket.
func raiseOpenFiles() (int, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < lim.Max {
		want := lim
		want.Cur = want.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			return int(lim.Cur), err
		}
		lim = want
	}
	return int(min(lim.Cur, 1<<30)), nil
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func parseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("bad number %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}
