package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/syncclient"
	"github.com/parley-chat/parley/schema"
)

var nodesRE = regexp.MustCompile(`parley: nodes on (\S+)`)

// nodeHealth is the part of a node's /healthz this test reads.
type nodeHealth struct {
	Status  string `json:"status"`
	Cluster *struct {
		Node   string `json:"node"`
		Reader bool   `json:"reader"`
	} `json:"cluster"`
}

func health(url string) (int, nodeHealth, error) {
	var h nodeHealth
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		return 0, h, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, h, json.NewDecoder(resp.Body).Decode(&h)
}

// `parley dev --nodes 3`: three cluster nodes over the embedded NATS, one
// of them the reader, behind a proxy on --addr; a write through the
// proxy reaches a subscriber on every node and one through the proxy,
// and an SSE connection's later requests stay on its node.
func TestDevNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildParley(t)
	data := filepath.Join(t.TempDir(), "data")
	p := startDev(t, bin, data, "--nodes", "3", "--web", "")
	defer p.stop(t)

	var nodes []string
	pgtest.Eventually(t, 10*time.Second, func() error {
		m := nodesRE.FindStringSubmatch(p.stderr.String())
		if m == nil {
			return fmt.Errorf("no nodes line:\n%s", p.stderr)
		}
		nodes = strings.Split(m[1], ",")
		return nil
	})
	require.Len(t, nodes, 3)
	pgtest.Eventually(t, 30*time.Second, func() error {
		readers := 0
		for i, u := range nodes {
			code, h, err := health(u)
			if err != nil {
				return err
			}
			if code != http.StatusOK || h.Cluster == nil {
				return fmt.Errorf("%s: %d %+v", u, code, h)
			}
			if want := fmt.Sprintf("node%d", i+1); h.Cluster.Node != want {
				return fmt.Errorf("%s is %q, want %q", u, h.Cluster.Node, want)
			}
			if h.Cluster.Reader {
				readers++
			}
		}
		if readers != 1 {
			return fmt.Errorf("%d readers, want 1", readers)
		}
		return nil
	})
	code, _, err := health(p.url)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)

	tok, err := exec.Command(bin, "token", "--data", data, "--sub", schema.DemoCustomerID, "--role", "customer").Output()
	require.NoError(t, err)
	token := strings.TrimSpace(string(tok))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := map[string]any{"conversationId": schema.DemoConversationID, "limit": 5}
	var subs []*syncclient.Subscription
	for _, u := range append(nodes, p.url) {
		c, err := syncclient.Dial(ctx, u, syncclient.Options{Token: token})
		require.NoError(t, err, u)
		defer c.Close()
		s, err := c.Subscribe("shared/chat:getMessages", args)
		require.NoError(t, err)
		_, err = s.Wait(ctx)
		require.NoError(t, err, u)
		subs = append(subs, s)
	}
	// Through the proxy, round robin: each of these lands on some node.
	for i := range 3 {
		content := fmt.Sprintf("through the proxy %d", i)
		sent := call(t, p.url, "mutation", token, fmt.Sprintf(
			`{"path":"shared/chat:sendMessage","args":{"conversationId":%q,"content":%q,"messageType":"text"}}`, schema.DemoConversationID, content))
		require.Equal(t, "success", sent["status"], sent)
		for j, s := range subs {
			pgtest.Eventually(t, 10*time.Second, func() error {
				v, _, ok := s.Latest()
				if !ok || !strings.Contains(string(v), content) {
					return fmt.Errorf("subscriber %d has not got %q", j, content)
				}
				return nil
			})
		}
	}

	// An SSE connection: the stream opens on one node, and every POST of
	// its messages (?connection=) must reach that node, not the next.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url+"/api/"+syncclient.DefaultClientVersion+"/sse-sync", nil)
	require.NoError(t, err)
	stream, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer stream.Body.Close()
	require.Equal(t, http.StatusOK, stream.StatusCode)
	buf := make([]byte, 4096)
	var first strings.Builder
	for !strings.Contains(first.String(), "\n\n") {
		n, err := stream.Body.Read(buf)
		require.NoError(t, err)
		first.Write(buf[:n])
	}
	m := regexp.MustCompile(`"send":"([^"]+)"`).FindStringSubmatch(first.String())
	require.NotNil(t, m, first.String())
	for i := range 6 {
		resp, err := http.Post(p.url+m[1], "application/json", strings.NewReader(`[]`))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusNoContent, resp.StatusCode, "POST %d of the connection's messages", i)
	}
}
