package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/turn/v4"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/devturn"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/support"
)

// buildParley builds the binary once per test.
func buildParley(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "parley")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, string(out))
	return bin
}

// lockedBuffer collects the process's stderr while tests read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) WriteString(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(s)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type devProcess struct {
	cmd    *exec.Cmd
	url    string
	stderr *lockedBuffer
	done   chan error
}

var servingRE = regexp.MustCompile(`serving on (http://\S+)`)

func startDev(t *testing.T, bin, data string, extra ...string) *devProcess {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"dev", "--data", data, "--addr", "127.0.0.1:0", "--log-level", "warn"}, extra...)...)
	pipe, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &devProcess{cmd: cmd, stderr: &lockedBuffer{}, done: make(chan error, 1)}
	urls := make(chan string, 1)
	go func() { // owned: ends when the process closes stderr; wait() waits for it via done
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			line := sc.Text()
			p.stderr.WriteString(line + "\n")
			if m := servingRE.FindStringSubmatch(line); m != nil {
				urls <- m[1]
			}
		}
		p.done <- cmd.Wait()
	}()
	select {
	case p.url = <-urls:
	case err := <-p.done:
		t.Fatalf("parley dev exited: %v\n%s", err, p.stderr)
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("parley dev did not start:\n%s", p.stderr)
	}
	return p
}

func (p *devProcess) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGINT))
	select {
	case err := <-p.done:
		require.NoError(t, err, p.stderr.String())
	case <-time.After(60 * time.Second):
		p.cmd.Process.Kill()
		t.Fatalf("parley dev did not stop on SIGINT:\n%s", p.stderr)
	}
}

func call(t *testing.T, url, kind, token, body string) map[string]any {
	t.Helper()
	req, err := http.NewRequest("POST", url+"/api/"+kind, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	require.NoError(t, json.Unmarshal(b, &out), string(b))
	return out
}

func TestDevRunsStopsAndReusesData(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildParley(t)
	data := filepath.Join(t.TempDir(), "data")

	p := startDev(t, bin, data)
	pgtest.Eventually(t, 10*time.Second, func() error {
		if !strings.Contains(p.stderr.String(), "parley token") {
			return fmt.Errorf("it does not say how to get a token:\n%s", p.stderr)
		}
		return nil
	})
	pgtest.Eventually(t, 20*time.Second, func() error {
		resp, err := http.Get(p.url + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("healthz: %d", resp.StatusCode)
		}
		return nil
	})

	// parley bench --data reads the database URL from the data directory.
	st, err := os.Stat(filepath.Join(data, "database.url"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	dbURL, err := os.ReadFile(filepath.Join(data, "database.url"))
	require.NoError(t, err)
	require.Regexp(t, `^postgres://.*/parley\?`, string(dbURL))

	// The banner's token command runs as printed: the binary as it was
	// started, and --data when it is not the default.
	m := regexp.MustCompile(`Get a token:\s+(.+)`).FindStringSubmatch(p.stderr.String())
	require.NotNil(t, m, p.stderr.String())
	require.True(t, strings.HasPrefix(m[1], bin+" token --data "+data+" "), m[1])
	tok, err := exec.Command("sh", "-c", m[1]).Output()
	require.NoError(t, err, m[1])
	token := strings.TrimSpace(string(tok))
	require.Len(t, strings.Split(token, "."), 3)
	args := `{"path":"shared/chat:createOrGetConversation","args":{"orderId":"order123456789","storeId":"store123456789"}}`
	first := call(t, p.url, "mutation", token, args)
	require.Equal(t, "success", first["status"], first)
	conv := first["value"].(map[string]any)["conversationId"]

	// The document's image message attaches the demo upload, whose URL
	// serves the image from DATA/media.
	image := call(t, p.url, "mutation", token, `{"path":"shared/chat:sendMessage","args":{"conversationId":"conv123456789",
		"content":"Here's a photo of the issue","messageType":"image","imageAttachment":{"fileId":"file123456789"}}}`)
	require.Equal(t, "success", image["status"], image)
	page := call(t, p.url, "query", token, `{"path":"shared/chat:getMessages","args":{"conversationId":"conv123456789","limit":1}}`)
	require.Equal(t, "success", page["status"], page)
	att := page["value"].(map[string]any)["messages"].([]any)[0].(map[string]any)["imageAttachment"].(map[string]any)
	imageURL := att["url"].(string)
	require.True(t, strings.HasPrefix(imageURL, p.url+"/api/storage/file123456789/image?"), imageURL)
	requireImage(t, imageURL)
	st, err = os.Stat(filepath.Join(data, "media-key"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	// The embedded TURN server takes the credentials GET /api/ice-servers
	// hands out (its secret is kept in DATA).
	requireTURN(t, p.url, token)
	st, err = os.Stat(filepath.Join(data, "turn-secret"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	// The same subject with a token for another org finds nothing of the
	// default org's.
	tok, err = exec.Command(bin, "token", "--data", data, "--sub", "cust123456789", "--role", "customer", "--org", "acme").Output()
	require.NoError(t, err)
	other := call(t, p.url, "query", strings.TrimSpace(string(tok)), `{"path":"shared/chat:getMessages","args":{"conversationId":"conv123456789"}}`)
	require.Equal(t, "error", other["status"], other)
	require.Equal(t, "Conversation not found", other["errorMessage"], other)

	p.stop(t)
	require.Contains(t, p.stderr.String(), "Postgres stopped")
	_, err = os.Stat(filepath.Join(data, "pg", "postmaster.pid"))
	require.ErrorIs(t, err, os.ErrNotExist, "Postgres is down after Ctrl-C")

	// Re-running reuses the data: the same conversation comes back, and
	// the token minted before still verifies (the dev secret is kept).
	p = startDev(t, bin, data)
	defer p.stop(t)
	again := call(t, p.url, "mutation", token, args)
	require.Equal(t, "success", again["status"], again)
	require.Equal(t, conv, again["value"].(map[string]any)["conversationId"])
	// The image and the key that signed its URL are kept too (on a new
	// port).
	requireImage(t, p.url+imageURL[strings.Index(imageURL, "/api/"):])

	// Bad tokens and bad roles are refused with clear messages.
	bad := call(t, p.url, "query", "not-a-token", `{"path":"shared/chat:getUnreadCount","args":{}}`)
	require.Equal(t, "error", bad["status"])
	require.Contains(t, bad["errorMessage"], "Invalid token")
	out, err := exec.Command(bin, "token", "--data", data, "--sub", "x", "--role", "root").CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), `--role must be customer, store or admin, got "root"`)
	out, err = exec.Command(bin, "token", "--data", filepath.Join(data, "missing"), "--sub", "x", "--role", "admin").CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), `run "parley dev" first`)
}

// requireTURN gets the ICE servers of base for token and allocates a
// relay on the TURN server with the credential.
func requireTURN(t *testing.T, base, token string) {
	t.Helper()
	req, err := http.NewRequest("GET", base+"/api/ice-servers", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var ice support.ICEServers
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ice))
	require.Len(t, ice.ICEServers, 2, "the embedded server's STUN and TURN")
	tu := ice.ICEServers[1]
	addr := strings.TrimSuffix(strings.TrimPrefix(tu.URLs[0], "turn:"), "?transport=udp")
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer conn.Close()
	c, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: *tu.Username, Password: *tu.Credential, Realm: devturn.Realm})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Listen())
	relay, err := c.Allocate()
	require.NoError(t, err)
	relay.Close()
}

// requireImage fetches url and checks it serves a WebP image.
func requireImage(t *testing.T, url string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	require.Equal(t, "image/webp", resp.Header.Get("Content-Type"))
	require.True(t, len(b) > 12 && string(b[8:12]) == "WEBP")
}

func TestServeExplainsMissingConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildParley(t)
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "DATABASE_URL=")
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "DATABASE_URL is not set")
	require.Contains(t, string(out), "wal_level=logical")
}

// A `parley dev` killed outright (SIGKILL, an OOM, a closed terminal)
// leaves its Postgres running; the next `parley dev` on the same data
// directory stops that orphan and starts afresh, with the data kept, and
// it warns that it did.
func TestDevAfterItWasKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildParley(t)
	data := filepath.Join(t.TempDir(), "data")
	pidFile := filepath.Join(data, "pg", "postmaster.pid")
	t.Cleanup(func() { // a failed test must not leave a server behind
		if b, err := os.ReadFile(pidFile); err == nil {
			var pid int
			if _, err := fmt.Sscan(string(b), &pid); err == nil && pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGQUIT)
			}
		}
	})

	p := startDev(t, bin, data)
	tok, err := exec.Command(bin, "token", "--data", data, "--sub", "cust123456789", "--role", "customer").Output()
	require.NoError(t, err)
	token := strings.TrimSpace(string(tok))
	args := `{"path":"shared/chat:createOrGetConversation","args":{"orderId":"order555555555","storeId":"store555555555"}}`
	first := call(t, p.url, "mutation", token, args)
	require.Equal(t, "success", first["status"], first)

	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	<-p.done
	_, err = os.Stat(pidFile)
	require.NoError(t, err, "Postgres outlives a killed parley dev")

	p = startDev(t, bin, data, "--log-level", "info")
	defer p.stop(t)
	require.Contains(t, p.stderr.String(), "stopping the postgres an earlier process left running")
	again := call(t, p.url, "mutation", token, args)
	require.Equal(t, "success", again["status"], again)
	require.Equal(t, first["value"], again["value"], "the data written before the kill is kept")
}
