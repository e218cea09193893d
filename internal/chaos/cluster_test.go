package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/cluster"
	"github.com/parley-chat/parley/internal/faultnet"
	"github.com/parley-chat/parley/internal/syncclient"
	"github.com/parley-chat/parley/schema"
)

// clusterEnv is one Postgres, a NATS server with JetStream in this test
// process (the nats-server module: a real server, restartable on the same
// port and store), and n `parley serve --cluster` nodes, each reaching
// NATS through a faultnet.Link of its own so that one can be cut off.
type clusterEnv struct {
	t        *testing.T
	base     *env   // node 0's env: the database, the tokens
	nodes    []*env // each node's env (its server and URL)
	links    []*faultnet.Link
	natsDir  string
	natsPort int

	mu   sync.Mutex
	nats *cluster.Embedded
}

func newClusterEnv(t *testing.T, n int) *clusterEnv {
	t.Helper()
	ce := &clusterEnv{t: t, natsDir: t.TempDir(), natsPort: freePort(t)}
	require.NoError(t, ce.startNATS())
	t.Cleanup(ce.stopNATS)
	args := func(i int) []string {
		link, err := faultnet.New("tcp", "127.0.0.1:"+strconv.Itoa(ce.natsPort))
		require.NoError(t, err)
		t.Cleanup(func() { link.Close() })
		ce.links = append(ce.links, link)
		return []string{"--cluster", "nats://" + link.Addr().String(), "--node-id", "node" + strconv.Itoa(i), "--log-level", "info"}
	}
	ce.base = newEnv(t, envOptions{serverArgs: args(0)})
	ce.nodes = []*env{ce.base}
	for i := 1; i < n; i++ {
		srv := ce.base.newServer(t, ce.base.dbURL, args(i))
		st := time.Now()
		require.NoError(t, srv.start())
		t.Logf("node %d healthy in %v", i, time.Since(st))
		ce.nodes = append(ce.nodes, ce.base.withServer(srv))
	}
	return ce
}

// withServer is e as seen through another server of the same database.
func (e *env) withServer(s *server) *env {
	return &env{t: e.t, pgDir: e.pgDir, pgPort: e.pgPort, cluster: e.cluster, dbURL: e.dbURL, mediaDir: e.mediaDir, db: e.db,
		srv: s, secret: e.secret, john: e.john, url: s.url}
}

func (ce *clusterEnv) startNATS() error {
	ns, err := cluster.StartEmbedded(cluster.EmbeddedConfig{Dir: ce.natsDir, Port: ce.natsPort})
	if err != nil {
		return err
	}
	ce.mu.Lock()
	ce.nats = ns
	ce.mu.Unlock()
	return nil
}

func (ce *clusterEnv) stopNATS() {
	ce.mu.Lock()
	ns := ce.nats
	ce.nats = nil
	ce.mu.Unlock()
	if ns != nil {
		ns.Shutdown()
	}
}

// clusterHealth is the cluster part of a node's /healthz.
type clusterHealth struct {
	Status  string          `json:"status"`
	Cluster *cluster.Status `json:"cluster"`
}

func nodeHealth(e *env) (clusterHealth, int, error) {
	var h clusterHealth
	resp, err := (&http.Client{Timeout: 3 * time.Second}).Get(e.url + "/healthz")
	if err != nil {
		return h, 0, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&h)
	return h, resp.StatusCode, err
}

// reader is the index of the node that reads the slot now.
func (ce *clusterEnv) reader() (int, error) {
	found := -1
	for i, n := range ce.nodes {
		if n.srv.pid() == 0 {
			continue
		}
		h, _, err := nodeHealth(n)
		if err != nil || h.Cluster == nil || !h.Cluster.Leader {
			continue
		}
		if found >= 0 {
			return -1, fmt.Errorf("nodes %d and %d both read the slot", found, i)
		}
		found = i
	}
	if found < 0 {
		return -1, fmt.Errorf("no node reads the slot")
	}
	return found, nil
}

func hasMarker(v json.RawMessage, marker string) bool {
	return strings.Contains(string(v), `"`+marker+`"`)
}

// TestClusterCrossNode: a client on one node sees another node's writes,
// and a mutation's answer on a node comes after that node applied it.
func TestClusterCrossNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Postgres, NATS and three parley nodes")
	}
	start := time.Now()
	ce := newClusterEnv(t, 3)
	t.Logf("cluster up in %v", time.Since(start))
	_, err := ce.reader()
	require.NoError(t, err)
	subs := make([]*goSub, len(ce.nodes))
	for i, n := range ce.nodes {
		subs[i] = startGoSub(t, n, "node"+strconv.Itoa(i), 20, 0)
		select {
		case <-subs[i].firstReady:
		case <-time.After(30 * time.Second):
			t.Fatalf("node %d: no first result", i)
		}
	}
	t.Logf("subscribed at %v", time.Since(start))
	for w, writer := range ce.nodes {
		t.Logf("writer %d at %v", w, time.Since(start))
		marker := fmt.Sprintf("cross-%d-%d", w, time.Now().UnixNano())
		// Read your writes: the writer's own subscription has the message
		// once the mutation's ts is reached, on any node.
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		c, err := syncclient.Dial(ctx, writer.url, syncclient.Options{Token: writer.john})
		require.NoError(t, err)
		own, err := c.Subscribe("shared/chat:getMessages", map[string]any{"conversationId": schema.DemoConversationID, "limit": 20})
		require.NoError(t, err)
		_, err = own.Wait(ctx)
		require.NoError(t, err)
		_, ts, err := c.MutationTS(ctx, "shared/chat:sendMessage", sendArgs(marker))
		require.NoError(t, err)
		require.NoError(t, c.WaitTS(ctx, ts))
		v, _, ok := own.Latest()
		require.True(t, ok)
		require.True(t, hasMarker(v, marker), "node %d: the writer's subscription lacks its write at the mutation's ts", w)
		c.Close()
		cancel()
		for i, s := range subs {
			eventually(t, 10*time.Second, fmt.Sprintf("node %d sees node %d's write", i, w), func() error {
				v, err := s.latest()
				if err != nil {
					return err
				}
				if !hasMarker(v, marker) {
					return fmt.Errorf("not yet")
				}
				return nil
			})
		}
	}
	// Commits a node did not make (plain SQL) reach every node too.
	marker := fmt.Sprintf("cross-sql-%d", time.Now().UnixNano())
	_, err = ce.base.db.Exec(t.Context(), insertSQL, schema.NewID("msgchaos"), schema.DemoConversationID, schema.DemoStaffID, marker)
	require.NoError(t, err)
	for i, s := range subs {
		eventually(t, 10*time.Second, fmt.Sprintf("node %d sees the SQL write", i), func() error {
			v, err := s.latest()
			if err != nil {
				return err
			}
			if !hasMarker(v, marker) {
				return fmt.Errorf("not yet")
			}
			return nil
		})
	}
}

// firstSeen waits until one of subs holds marker and returns when.
func firstSeen(subs []*goSub, marker string, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, s := range subs {
			if v, err := s.latest(); err == nil && hasMarker(v, marker) {
				return time.Now(), nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Time{}, fmt.Errorf("%s reached no subscriber within %s", marker, timeout)
}

// TestClusterFailover runs writers and subscribers on every node, kills
// the reader with SIGKILL (PARLEY_FAILOVER_TRIALS times, default 2),
// restarts the NATS server, and then wants every acknowledged write in the
// database and every subscription equal to a fresh query: no push lost.
func TestClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Postgres, NATS and three parley nodes")
	}
	trials := 2
	if v, err := strconv.Atoi(os.Getenv("PARLEY_FAILOVER_TRIALS")); err == nil && v > 0 {
		trials = v
	}
	ce := newClusterEnv(t, 3)
	subsOf := make([][]*goSub, len(ce.nodes))
	var all []subscriber
	for i, n := range ce.nodes {
		for k := range 2 {
			g := startGoSub(t, n, fmt.Sprintf("node%d-sub%d", i, k), 20, 0)
			subsOf[i] = append(subsOf[i], g)
			all = append(all, g)
		}
	}
	var loads []*load
	for i, n := range ce.nodes {
		loads = append(loads, startLoad(t, n, fmt.Sprintf("fo%d-%d", i, time.Now().UnixNano()), 50*time.Millisecond))
	}
	time.Sleep(2 * time.Second)

	var times []time.Duration
	for trial := range trials {
		r, err := ce.reader()
		require.NoError(t, err)
		var others []*goSub
		for i := range ce.nodes {
			if i != r {
				others = append(others, subsOf[i]...)
			}
		}
		// The writers pause while the reader dies, so that the marker is
		// still among the latest messages when the first push comes.
		for _, l := range loads {
			l.hold(true)
		}
		for _, l := range loads {
			require.NoError(t, l.idle(20*time.Second))
		}
		marker := fmt.Sprintf("failover-%d-%d", trial, time.Now().UnixNano())
		ce.nodes[r].srv.kill()
		killed := time.Now()
		_, err = ce.base.db.Exec(t.Context(), insertSQL, schema.NewID("msgchaos"), schema.DemoConversationID, schema.DemoStaffID, marker)
		require.NoError(t, err)
		seen, err := firstSeen(others, marker, 30*time.Second)
		require.NoError(t, err, "trial %d: the first write after the reader's death", trial)
		times = append(times, seen.Sub(killed))
		for _, l := range loads {
			l.hold(false)
		}
		nr := -1
		eventually(t, 10*time.Second, "a new reader", func() error {
			var err error
			nr, err = ce.reader()
			return err
		})
		require.NotEqual(t, r, nr)
		t.Logf("trial %d: reader node%d killed; node%d reads; first push after %v", trial, r, nr, times[trial])
		require.NoError(t, ce.nodes[r].srv.start(), "restart node %d", r)
	}
	sorted := append([]time.Duration(nil), times...)
	slices.Sort(sorted)
	t.Logf("failover (reader killed → first push from the new reader), %d trials: min %v, median %v, max %v",
		len(sorted), sorted[0], sorted[len(sorted)/2], sorted[len(sorted)-1])

	// The NATS server goes away for a second and comes back on its store.
	ce.stopNATS()
	time.Sleep(time.Second)
	require.NoError(t, ce.startNATS())
	eventually(t, 30*time.Second, "every node follows again", func() error {
		for i, n := range ce.nodes {
			h, code, err := nodeHealth(n)
			if err != nil {
				return err
			}
			if code != http.StatusOK || h.Cluster == nil || !h.Cluster.Follows {
				return fmt.Errorf("node %d: %d %+v", i, code, h.Cluster)
			}
		}
		return nil
	})
	time.Sleep(2 * time.Second)
	for _, l := range loads {
		l.stop()
	}
	for i, l := range loads {
		a := l.audit(t, ce.base)
		require.Zero(t, a.lost, "node %d's writers: acknowledged writes missing: %v", i, a.lostExamples)
		require.Empty(t, a.failures, "node %d's writers", i)
		require.Empty(t, a.proto, "node %d's writers: protocol errors", i)
		require.Positive(t, a.acked)
	}
	if bad := converge(ce.nodes[0], all, 30*time.Second); len(bad) > 0 {
		t.Fatalf("subscriptions differ from a fresh query: %s", brief(bad))
	}
	for _, s := range all {
		require.Empty(t, s.(*goSub).protocolErrors(), s.name())
	}
}

// TestClusterPartition cuts one node off from NATS: it reports itself
// unhealthy, stops serving its sessions (they are closed and new ones are
// refused, so a load balancer sends them elsewhere) and, once the link is
// back, follows again with every subscription equal to a fresh query.
func TestClusterPartition(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Postgres, NATS and three parley nodes")
	}
	ce := newClusterEnv(t, 3)
	r, err := ce.reader()
	require.NoError(t, err)
	cut := (r + 1) % len(ce.nodes) // a follower
	victim := ce.nodes[cut]
	sub := startGoSub(t, victim, "cut-node", 20, 0)
	<-sub.firstReady
	other := startGoSub(t, ce.nodes[r], "reader-node", 20, 0)
	<-other.firstReady

	ce.links[cut].Cut()
	eventually(t, 15*time.Second, "the cut node reports itself unhealthy", func() error {
		h, code, err := nodeHealth(victim)
		if err != nil {
			return err
		}
		if code == http.StatusOK || h.Cluster == nil || h.Cluster.Follows {
			return fmt.Errorf("still healthy: %d %+v", code, h.Cluster)
		}
		return nil
	})
	eventually(t, 20*time.Second, "the cut node's sessions are closed and not let back", func() error {
		if _, err := sub.latest(); err == nil {
			return errors.New("its subscriber still holds a live result")
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	_, err = syncclient.Dial(ctx, victim.url, syncclient.Options{Token: victim.john})
	cancel()
	require.Error(t, err, "a new session on the cut node")
	// Writes go on elsewhere meanwhile.
	marker := fmt.Sprintf("partition-%d", time.Now().UnixNano())
	_, err = ce.base.db.Exec(t.Context(), insertSQL, schema.NewID("msgchaos"), schema.DemoConversationID, schema.DemoStaffID, marker)
	require.NoError(t, err)
	_, err = firstSeen([]*goSub{other}, marker, 10*time.Second)
	require.NoError(t, err)

	ce.links[cut].Restore()
	eventually(t, 30*time.Second, "the node follows again", func() error {
		h, code, err := nodeHealth(victim)
		if err != nil {
			return err
		}
		if code != http.StatusOK || h.Cluster == nil || !h.Cluster.Follows {
			return fmt.Errorf("%d %+v", code, h.Cluster)
		}
		return nil
	})
	if bad := converge(ce.nodes[r], []subscriber{sub, other}, 30*time.Second); len(bad) > 0 {
		t.Fatalf("after the partition: %s", brief(bad))
	}
	v, err := sub.latest()
	require.NoError(t, err)
	require.True(t, hasMarker(v, marker), "the write made during the partition")
}
