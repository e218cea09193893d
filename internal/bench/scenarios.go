package bench

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/parley-chat/parley/internal/bench/dataset"
)

// The scenarios a, b, c and d; stall, with its stalled clients, is in
// stall.go. Each seeds its group (prepare), connects a fleet, measures one
// load over it (c: one per idle level) and closes the fleet.

// failed is the one row of a scenario that could not run.
func failed(name string, err error) []Row { return []Row{{Scenario: name, Error: err.Error()}} }

// twoParty returns the sessions of n conversations of g: conversation
// s%convs gets session s, its customer first, then its staff.
func twoParty(g dataset.Group, n int) []viewerSpec {
	specs := make([]viewerSpec, n)
	for s := range specs {
		i, j := s%g.Convs, s/g.Convs
		ident := g.Customer(i)
		if j > 0 {
			ident = g.StaffMember(i, j-1)
		}
		specs[s] = viewerSpec{ident: ident, conv: i}
	}
	return specs
}

func convIDs(g dataset.Group) []string {
	ids := make([]string, g.Convs)
	for i := range ids {
		ids[i] = g.ConvID(i)
	}
	return ids
}

func (r *Runner) withMemory(row Row, m memory) Row {
	row.MemPerSession, row.HeapPerSession, row.MemSessions = m.rss, m.heap, m.sessions
	return row
}

// scenarioA: many two-party conversations, open-loop writes.
func (r *Runner) scenarioA(ctx context.Context) []Row {
	c := r.cfg.A
	per := ceilDiv(c.Sessions, c.Conversations)
	g := dataset.Group{Prefix: dataset.IDPrefix + "a", Convs: c.Conversations, Staff: max(1, per-1), History: r.cfg.PageSize}
	if err := r.prepare(ctx, g); err != nil {
		return failed("a", err)
	}
	f := r.newFleet("a", convIDs(g))
	defer f.close()
	m, err := r.connectMeasured(ctx, f, twoParty(g, c.Sessions))
	if err != nil {
		return failed("a", err)
	}
	row := r.measure(ctx, f, load{name: "a", rate: c.Rate, sqlShare: r.cfg.SQLShare, warmUp: r.cfg.WarmUp, window: r.cfg.Duration})
	return []Row{r.withMemory(row, m)}
}

// scenarioB: one hot conversation; every viewer must receive every message.
func (r *Runner) scenarioB(ctx context.Context) []Row {
	c := r.cfg.B
	g := dataset.Group{Prefix: dataset.IDPrefix + "b", Convs: 1, Staff: max(1, c.Viewers-1), History: c.Page}
	if err := r.prepare(ctx, g); err != nil {
		return failed("b", err)
	}
	f := r.newFleet("b", convIDs(g))
	// Every viewer gets every push of the hot conversation: decoding them
	// all with syncclient would saturate the generator (see package lite).
	f.page, f.lite = c.Page, true
	defer f.close()
	m, err := r.connectMeasured(ctx, f, twoParty(g, c.Viewers))
	if err != nil {
		return failed("b", err)
	}
	row := r.measure(ctx, f, load{name: "b", rate: c.Rate, sqlShare: r.cfg.SQLShare, warmUp: r.cfg.WarmUp, window: r.cfg.Duration})
	if row.Error == "" {
		msgs := row.Writes - row.WriteErrors
		switch {
		case row.Dropped == 0 && row.Duplicates == 0:
			row.Notes = append(row.Notes, fmt.Sprintf("every one of %d viewers received every one of %d messages (%d receipts; getMessages limit %d; lite sessions)",
				row.ViewersChecked, msgs, row.Received, c.Page))
		case row.DroppedKeptUp == 0 && row.Duplicates == 0:
			row.Notes = append(row.Notes, fmt.Sprintf("every viewer that kept up received every message; %d receipts of %d viewers were beyond a page (%d) of a coalesced result: slow clients",
				row.DroppedBeyondPage, row.ViewersMissing, c.Page))
		default:
			row.Notes = append(row.Notes, fmt.Sprintf("NOT every viewer received every message: %d of %d viewers missed at least one of %d messages (%d receipts although the viewer kept up, %d beyond a page)",
				row.ViewersMissing, row.ViewersChecked, msgs, row.DroppedKeptUp, row.DroppedBeyondPage))
		}
	}
	return []Row{r.withMemory(row, m)}
}

// scenarioC: the same writes with more and more idle subscriptions.
func (r *Runner) scenarioC(ctx context.Context) []Row {
	c := r.cfg.C
	g := dataset.Group{Prefix: dataset.IDPrefix + "c", Convs: c.Conversations, Staff: 1, History: r.cfg.PageSize}
	most := c.Idle[len(c.Idle)-1]
	idle := dataset.IdleGroup{Prefix: dataset.IDPrefix + "ci", Convs: most, PerCustomer: c.IdlePerSession}
	if err := r.prepare(ctx, g); err != nil {
		return failed("c", err)
	}
	if most > 0 {
		start := time.Now()
		if err := dataset.SeedIdle(ctx, r.pool, idle); err != nil {
			return failed("c", err)
		}
		if err := r.waitReplicated(ctx, replicatedTimeout); err != nil {
			return failed("c", err)
		}
		r.log.Info("seeded", slog.String("group", idle.Prefix), slog.Int("conversations", most),
			slog.Duration("took", time.Since(start).Round(time.Millisecond)))
	}
	f := r.newFleet("c", convIDs(g))
	defer f.close()
	if err := f.connect(ctx, twoParty(g, 2*c.Conversations)); err != nil {
		return failed("c", err)
	}
	var rows []Row
	sessions := 0 // idle sessions connected
	for _, level := range c.Idle {
		name := fmt.Sprintf("c/%d", level)
		var specs []viewerSpec
		for ; sessions*c.IdlePerSession < level; sessions++ {
			spec := viewerSpec{ident: idle.Customer(sessions), conv: -1}
			for i := sessions * c.IdlePerSession; i < min((sessions+1)*c.IdlePerSession, level); i++ {
				spec.idle = append(spec.idle, idle.ConvID(i))
			}
			specs = append(specs, spec)
		}
		m, err := r.connectMeasured(ctx, f, specs)
		if err != nil {
			rows = append(rows, Row{Scenario: name, Error: err.Error()})
			break
		}
		row := r.measure(ctx, f, load{name: name, rate: c.Rate, sqlShare: r.cfg.SQLShare, warmUp: r.cfg.WarmUp, window: r.cfg.Duration})
		row = r.withMemory(row, m)
		if m.sessions > 0 {
			row.Notes = append(row.Notes, fmt.Sprintf("KB/sess is per idle session added for this row (%d subscriptions each)", c.IdlePerSession))
		}
		rows = append(rows, row)
		if ctx.Err() != nil {
			break
		}
	}
	return rows
}

// scenarioD: peak sendMessage throughput, closed loop.
func (r *Runner) scenarioD(ctx context.Context) []Row {
	c := r.cfg.D
	g := dataset.Group{Prefix: dataset.IDPrefix + "d", Convs: ceilDiv(c.Subscribers, 2), Staff: 1, History: r.cfg.PageSize}
	if err := r.prepare(ctx, g); err != nil {
		return failed("d", err)
	}
	f := r.newFleet("d", convIDs(g))
	// At peak rate, decoding every push with syncclient took the generator
	// a quarter of a core, half of it in encoding/json: CPU the server and
	// Postgres share on this host (see package lite).
	f.lite = true
	defer f.close()
	specs := twoParty(g, c.Subscribers)
	m, err := r.connectMeasured(ctx, f, specs)
	if err != nil {
		return failed("d", err)
	}
	// Writers: the customers of the first conversations, one each.
	var writers []*viewer
	for _, v := range f.snapshot() {
		if v.ident.Role == g.Customer(0).Role && v.conv < c.Writers {
			writers = append(writers, v)
		}
	}
	if len(writers) < c.Writers { // more writers than conversations: staff write too
		for _, v := range f.snapshot() {
			if len(writers) < c.Writers && v.ident.Role != g.Customer(0).Role {
				writers = append(writers, v)
			}
		}
	}
	row := r.measure(ctx, f, load{name: "d", writers: writers, warmUp: r.cfg.WarmUp, window: r.cfg.Duration})
	row.Notes = append(row.Notes, fmt.Sprintf("closed loop: %d writers, each waiting for its sendMessage (read-your-writes) before the next", len(writers)))
	return []Row{r.withMemory(row, m)}
}
