package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// Client is the river client jobs are inserted with.
type Client = river.Client[pgx.Tx]

// Config configures the queue.
type Config struct {
	// Pool is the database. Required.
	Pool *pgxpool.Pool
	// Workers holds every domain's workers. Required (river needs at
	// least one to run jobs).
	Workers *river.Workers
	// Periodic are the periodic jobs (digests, pruning), run by the
	// leader only.
	Periodic []*river.PeriodicJob
	// MaxWorkers bounds the jobs run at once on this node. Zero means 20.
	MaxWorkers int
	// StreamWorkers bounds the assistant's replies streaming at once on
	// this node (QueueAssistant). Zero means 100.
	StreamWorkers int
	// JobTimeout bounds one run of a job that sets no timeout of its own.
	// Zero means 1 minute.
	JobTimeout time.Duration
	// RescueAfter is how long a job may stay running before the leader
	// takes it for one whose node died and runs it again. It must exceed
	// every job's timeout. Zero means the longer of JobTimeout and
	// LongestJob, plus 30s.
	RescueAfter time.Duration
	// LongestJob is the longest timeout a worker sets for its own jobs
	// (river's Worker.Timeout); the rescue delay must exceed it too.
	LongestJob time.Duration
	// FetchCooldown is the least time between two fetches of a queue; a
	// job inserted meanwhile waits for the next. Zero means 5ms (river's
	// default of 100ms would add up to that to every webhook's latency).
	FetchCooldown time.Duration
	// FetchPollInterval is how often a queue looks for jobs when no
	// insert notification arrived (jobs coming due after a backoff). Zero
	// means 1s.
	FetchPollInterval time.Duration
	// StopGrace is how long Run lets running jobs finish once ctx is done.
	// Zero means 5s.
	StopGrace time.Duration
	Logger    *slog.Logger
}

// Queue names.
const (
	// QueueDefault takes every job but webhook deliveries.
	QueueDefault = river.QueueDefault
	// QueueWebhooks takes webhook deliveries, so that slow endpoints never
	// hold up other work.
	QueueWebhooks = "webhooks"
	// QueueAssistant takes the AI assistant's replies: each waits on a
	// model for seconds, mostly idle, so many run at once
	// (Config.StreamWorkers) without holding up other work.
	QueueAssistant = "assistant"
)

// queues gives each queue its share of n workers.
func queues(n, streams int) map[string]river.QueueConfig {
	return map[string]river.QueueConfig{
		QueueDefault:   {MaxWorkers: max(n/4, 2)},
		QueueWebhooks:  {MaxWorkers: n},
		QueueAssistant: {MaxWorkers: streams},
	}
}

// Queue runs jobs. Safe for concurrent use.
type Queue struct {
	*Client
	cfg Config
}

// New builds the queue's client; Run starts its work.
func New(cfg Config) (*Queue, error) {
	if cfg.Pool == nil || cfg.Workers == nil {
		return nil, errors.New("jobs: Pool and Workers are required")
	}
	if cfg.MaxWorkers <= 0 {
		cfg.MaxWorkers = 20
	}
	if cfg.StreamWorkers <= 0 {
		cfg.StreamWorkers = 100
	}
	if cfg.JobTimeout <= 0 {
		cfg.JobTimeout = time.Minute
	}
	longest := max(cfg.JobTimeout, cfg.LongestJob)
	if cfg.RescueAfter <= 0 {
		cfg.RescueAfter = longest + 30*time.Second
	}
	if cfg.RescueAfter <= longest {
		return nil, fmt.Errorf("jobs: the rescue delay (%s) must exceed the longest job timeout (%s): a job would be taken for a dead node's while it still runs", cfg.RescueAfter, longest)
	}
	if cfg.FetchCooldown <= 0 {
		cfg.FetchCooldown = 5 * time.Millisecond
	}
	if cfg.FetchPollInterval <= 0 {
		cfg.FetchPollInterval = time.Second
	}
	if cfg.StopGrace <= 0 {
		cfg.StopGrace = 5 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c, err := river.NewClient(riverpgxv5.New(cfg.Pool), &river.Config{
		Queues:               queues(cfg.MaxWorkers, cfg.StreamWorkers),
		Workers:              cfg.Workers,
		PeriodicJobs:         cfg.Periodic,
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueAfter,
		FetchCooldown:        cfg.FetchCooldown,
		FetchPollInterval:    cfg.FetchPollInterval,
		Logger:               log.With(slog.String("component", "river")),
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: new river client: %w", err)
	}
	return &Queue{Client: c, cfg: cfg}, nil
}

// Run works jobs until ctx is done, then stops.
func (q *Queue) Run(ctx context.Context) error {
	if ctx.Err() != nil {
		return nil // stopped before starting
	}
	// river stops abruptly when the context it started with ends: running
	// jobs are cancelled, and a delivery the receiver has already taken
	// would be recorded as failed and sent again. So it starts detached,
	// and the end of ctx is a graceful stop (fetch nothing more, let what
	// runs finish and be recorded), abrupt only after StopGrace.
	if err := q.Start(context.WithoutCancel(ctx)); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return fmt.Errorf("jobs: start: %w", err)
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), q.cfg.StopGrace)
	defer cancel()
	err := q.Stop(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		hctx, hcancel := context.WithTimeout(context.WithoutCancel(ctx), q.cfg.StopGrace)
		defer hcancel()
		err = q.StopAndCancel(hctx)
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("jobs: stop: %w", err)
	}
	return nil
}

// Migrate applies river's migrations not yet applied. Serialise it with
// other migrators (schema.Migrate holds its lock).
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	m, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return fmt.Errorf("jobs: migrate: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("jobs: migrate: %w", err)
	}
	return nil
}
