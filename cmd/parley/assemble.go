package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions/jwtauth"
	"github.com/parley-chat/parley/internal/activity"
	"github.com/parley-chat/parley/internal/server"
	"github.com/parley-chat/parley/support"
)

// serverFlags are the flags `parley dev` and `parley serve` share: the
// log level, the chat API's tuning, the media options, guest access and
// the profiler.
type serverFlags struct {
	logLevel  *string
	chat      *chat.Config
	media     *mediaOptions
	debugAddr *string
	dbGrace   *time.Duration
	slot      *string
	guests    *guestOptions
	activity  *time.Duration
	connectTO *time.Duration
	bodyIdle  *time.Duration
	maxConns  *int
	caps      *capOptions
	events    *server.EventsConfig
	jobs      *server.JobsConfig
	support   *support.Config
	mail      *mailOptions
	ice       *iceOptions
	ai        *aiOptions
	cluster   *clusterOptions
}

// declareServerFlags declares the shared flags on fl; serve adds the
// production-only ones (see mediaFlags) and reads defaults from the
// environment.
func declareServerFlags(fl *flag.FlagSet, serve bool) *serverFlags {
	f := &serverFlags{}
	help := "log level: debug, info, warn, error"
	if serve {
		help += " (env PARLEY_LOG_LEVEL)"
	}
	f.logLevel = fl.String("log-level", envOr("PARLEY_LOG_LEVEL", "info"), help)
	f.chat = chatFlags(fl)
	f.media = mediaFlags(fl, serve)
	f.guests = guestFlags(fl, serve)
	f.mail = mailFlags(fl, serve)
	f.ice = iceFlags(fl, serve)
	f.ai = aiFlags(fl, serve)
	f.cluster = clusterFlags(fl, serve)
	f.debugAddr = debugFlag(fl)
	f.dbGrace = fl.Duration("db-grace", 10*time.Second,
		"how long a mutation waits for an unreachable database to come back before it fails as unavailable (negative: no wait)")
	f.connectTO = fl.Duration("connect-timeout", 10*time.Second,
		"how long a new sync connection (WebSocket, SSE, long poll) may take to send Connect before it is closed (negative: no limit)")
	f.bodyIdle = fl.Duration("body-idle-timeout", 30*time.Second,
		"how long a request body may go without a byte before the request fails (a slow or stalled upload holds no connection longer; negative: no limit)")
	f.maxConns = fl.Int("max-connections", 0,
		"most HTTP connections (WebSocket sessions included) held at once; past it a new one gets a fast 503, and the last 32 places are kept for /healthz and /metrics (0: the open-file limit less a tenth; negative: no cap)")
	f.caps = capFlags(fl)
	f.activity = fl.Duration("activity-interval", activity.DefaultInterval,
		"least time between two writes of one user's last-seen time and online state (user_activity); open sessions are refreshed this often")
	f.events = &server.EventsConfig{}
	// parley dev's webhooks may reach a receiver on the same machine;
	// serve's may not unless told (SSRF).
	fl.BoolVar(&f.events.AllowPrivate, "webhooks-allow-private", !serve,
		"let webhooks reach private, loopback and link-local addresses (off in serve: an admin could otherwise make Parley call into its own network)")
	fl.DurationVar(&f.events.DeliveryTimeout, "webhook-timeout", 10*time.Second, "bound of one webhook delivery attempt (a receiver that hangs is cut)")
	fl.DurationVar(&f.events.RetryHorizon, "webhook-retry-horizon", 24*time.Hour,
		"how long a failing webhook delivery is retried (exponential backoff with jitter) before it is dead; replayDelivery revives it")
	f.jobs = &server.JobsConfig{}
	fl.DurationVar(&f.jobs.Timeout, "jobs-timeout", time.Minute, "bound of one run of a background job (offline-mail and digest scans); a webhook delivery's is --webhook-timeout + 10s")
	fl.DurationVar(&f.jobs.RescueAfter, "jobs-rescue-after", 0,
		"how long a job may stay running before it is taken for one whose node died and run again; more than every job's timeout (default: the longest + 30s)")
	fl.IntVar(&f.jobs.StreamWorkers, "ai-max-streams", 100, "assistant replies streaming at once on this node (more wait their turn)")
	f.support = &support.Config{}
	fl.DurationVar(&f.support.PresenceTTL, "presence-ttl", support.DefaultPresenceTTL,
		"how long a session's presence entry lives without a heartbeat (shared/support:heartbeat); a user is online while one of their sessions is")
	fl.DurationVar(&f.support.AwayAfter, "presence-away-after", support.DefaultAwayAfter,
		"idle time (a heartbeat's idleSeconds) from which a session counts as away")
	fl.Float64Var(&f.support.HeartbeatsPerSecond, "heartbeat-rate", 2, "presence heartbeats per second a user may send, all sessions together (negative: no limit)")
	fl.IntVar(&f.support.HeartbeatBurst, "heartbeat-burst", 20, "presence heartbeats a user may send at once")
	fl.DurationVar(&f.support.AvgHandleTime, "support-avg-handle-time", support.DefaultAvgHandleTime,
		"the average handle time of a support chat that queue ETAs use until an org's first chat closes (then: measured over its latest closed chats)")
	fl.IntVar(&f.support.HandleTimeWindow, "support-handle-time-window", support.DefaultHandleTimeWindow,
		"how many of an org's latest closed support chats the average handle time is measured over")
	fl.BoolVar(&f.support.QueueOnMessage, "support-queue-on-message", false,
		"queue a customer's support conversation when they write in it while no agent holds it (else only shared/support:requestSupport queues)")
	fl.DurationVar(&f.support.Timers.WarnAfter, "support-warn-after", support.DefaultWarnAfter,
		"customer silence (after the agent's last word) that posts a warning in an assigned chat (negative: never)")
	fl.DurationVar(&f.support.Timers.CloseAfter, "support-close-after", support.DefaultCloseAfter,
		"customer silence that closes an assigned chat (negative: never)")
	fl.DurationVar(&f.support.Timers.AgentReplyIn, "support-agent-reply-within", support.DefaultAgentReplyIn,
		"how long a customer's message may wait for the agent holding the chat before --support-agent-silence happens (negative: never)")
	fl.StringVar(&f.support.Timers.AgentSilence, "support-agent-silence", support.SilenceRequeue,
		"what an unanswered customer does: requeue (back to the queue at its place) or alert (a notice and a support.agent_silent event)")
	fl.DurationVar(&f.support.Timers.Interval, "support-timer-interval", support.DefaultTimersInterval, "how often the inactivity timers are checked")
	f.slot = fl.String("replication-slot", "",
		"the permanent logical replication slot this server reads, which a reconnect resumes; every server needs its own "+
			"(default parley_<database>); \""+server.TemporarySlots+"\": a temporary slot per connection, and every live query re-run after a reconnect")
	return f
}

// chatFlags declares the chat API's tuning flags on fl.
func chatFlags(fl *flag.FlagSet) *chat.Config {
	c := &chat.Config{}
	fl.Float64Var(&c.MessagesPerSecond, "message-rate", 5, "messages per second a user may send (negative: no limit)")
	fl.IntVar(&c.MessageBurst, "message-burst", 10, "messages a user may send at once")
	fl.Float64Var(&c.TypingPerSecond, "typing-rate", 2, "typing updates per second a user may send (negative: no limit)")
	fl.IntVar(&c.TypingBurst, "typing-burst", 5, "typing updates a user may send at once")
	fl.DurationVar(&c.TypingTTL, "typing-ttl", 5*time.Second, "how long a typing indicator lasts without a refresh")
	fl.Float64Var(&c.UploadsPerSecond, "upload-rate", 1, "image upload URLs per second a user may request (negative: no limit)")
	fl.IntVar(&c.UploadBurst, "upload-burst", 10, "image upload URLs a user may request at once")
	fl.Func("rate-limit-wait", fmt.Sprintf("how long a message or upload URL over its rate limit waits for its token before it is refused "+
		"(default %s; 0: refused at once)", chat.DefaultRateLimitWait), func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return fmt.Errorf("want a duration of 0 or more, such as 5s")
		}
		c.RateLimitWait = cmp.Or(d, -1) // chat.Config: negative is no wait
		return nil
	})
	fl.DurationVar(&c.EditWindow, "edit-window", chat.DefaultEditWindow, "how long after sending its sender may edit a message (admins: any time)")
	fl.IntVar(&c.MaxGroupSize, "max-group-size", chat.DefaultMaxGroupSize, "most participants of a group conversation, its creator included")
	return c
}

// runServer is the assembly dev and serve share. cfg names the database,
// the listener, the extra routes and guest access (whose key the verifier
// holds too); runServer adds the verifier, the
// shared flags (media defaults under dataDir, "" for serve) and the
// logger, starts the profiler, builds the server, calls ready with it
// (dev seeds its demo image and prints its banner there; nil: nothing),
// and runs the server and the verifier's key refresh until ctx ends.
func runServer(ctx context.Context, log *slog.Logger, cfg server.Config, verifier *jwtauth.Verifier, f *serverFlags,
	dataDir string, ready func(*server.Server) error) error {
	cfg.Verifier, cfg.Chat, cfg.Logger, cfg.DBGrace, cfg.ReplicationSlot = verifier, *f.chat, log, *f.dbGrace, *f.slot
	cfg.ActivityInterval, cfg.ConnectTimeout, cfg.BodyIdleTimeout, cfg.MaxConnections = *f.activity, *f.connectTO, *f.bodyIdle, *f.maxConns
	cfg.Events, cfg.Jobs, cfg.Support = *f.events, *f.jobs, *f.support
	if err := f.caps.apply(&cfg); err != nil {
		return err
	}
	cfg.Support.ICE = f.ice.config()
	if err := f.ai.apply(&cfg); err != nil {
		return err
	}
	if err := f.media.apply(&cfg, dataDir); err != nil {
		return err
	}
	keyDir := dataDir
	if keyDir == "" {
		keyDir = cfg.MediaDir
	}
	if err := f.mail.apply(&cfg, keyDir, f.media.publicURL); err != nil {
		return err
	}
	if cfg.Cluster == nil { // else the caller made it a node (dev --nodes)
		closeNATS, err := f.cluster.connect(&cfg, log)
		if err != nil {
			return err
		}
		defer closeNATS()
	}
	stopDebug, err := startDebug(ctx, *f.debugAddr, log)
	if err != nil {
		return err
	}
	defer stopDebug()
	srv, err := server.New(ctx, cfg)
	if err != nil {
		return err
	}
	if ready != nil {
		if err := ready(srv); err != nil {
			return err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return verifier.Run(gctx) })
	g.Go(func() error { return srv.Run(gctx) })
	return g.Wait()
}
