package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
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
		return []string{"--cluster", "nats://" + link.Addr().String(), "--node-id", "node" + strconv.Itoa(i)}
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
		subs[i] = startGoSub(t, n, "node"+strconv.Itoa(i), 20)
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
