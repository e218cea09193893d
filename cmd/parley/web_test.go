package main_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const indexHTML = "<!doctype html><title>Parley</title>"

// webDir is a stand-in for web/dist.
func webDir(t *testing.T) string {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "index.html"), []byte(indexHTML), 0o644))
	return dir
}

// get returns the status and body of GET url.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// post returns the status and body of POST url with a JSON body.
func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// requireApp checks that url serves the web app at / and at a client-side
// route, and that the server's own routes are not shadowed.
func requireApp(t *testing.T, url string) {
	t.Helper()
	for _, path := range []string{"/", "/c/conv123456789"} {
		status, body := get(t, url+path)
		require.Equal(t, http.StatusOK, status, path)
		require.Equal(t, indexHTML, body, path)
	}
	_, body := get(t, url+"/healthz") // 503 until replication is up
	require.Contains(t, body, `"replication"`)
	status, _ := get(t, url+"/api/nothing")
	require.Equal(t, http.StatusNotFound, status)
}

// The dev sign-in exists under `parley dev` only; both commands serve the
// web app without shadowing the API.
func TestDevSignInOnlyUnderDev(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildParley(t)
	web := webDir(t)

	t.Run("dev", func(t *testing.T) {
		p := startDev(t, bin, filepath.Join(t.TempDir(), "data"), "--web", web)
		defer p.stop(t)
		// The startup message's lines arrive after the "serving on" one.
		pgtest.Eventually(t, 10*time.Second, func() error {
			if !strings.Contains(p.stderr.String(), "Web app:       "+p.url+"/") {
				return fmt.Errorf("the startup message does not name the web app:\n%s", p.stderr)
			}
			return nil
		})
		requireApp(t, p.url)

		status, body := get(t, p.url+"/dev/identities")
		require.Equal(t, http.StatusOK, status, body)
		var ids []struct{ Key, Sub, Role string }
		require.NoError(t, json.Unmarshal([]byte(body), &ids))
		require.Equal(t, "john", ids[0].Key)

		status, body = post(t, p.url+"/dev/token", `{"identity":"john"}`)
		require.Equal(t, http.StatusOK, status, body)
		var tok struct{ Token string }
		require.NoError(t, json.Unmarshal([]byte(body), &tok))
		// The token is the server's own: John sees his conversations.
		convs := call(t, p.url, "query", tok.Token, `{"path":"shared/chat:getConversations","args":{}}`)
		require.Equal(t, "success", convs["status"], convs)
		require.Len(t, convs["value"], 1)

		status, _ = post(t, p.url+"/dev/token", `{"identity":"root"}`)
		require.Equal(t, http.StatusNotFound, status)

		// Guests are on under dev: the widget's token opens a support
		// conversation.
		requireGuests(t, p.url)
	})

	t.Run("serve", func(t *testing.T) {
		cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--migrate", "--log-level", "info",
			"--jwt-secret", strings.Repeat("k", 32), "--media-dir", t.TempDir(), "--web", web)
		cmd.Env = append(os.Environ(), "DATABASE_URL="+pgtest.NewDB(t))
		url, stop := startServe(t, cmd)
		defer stop()
		requireApp(t, url)
		status, _ := get(t, url+"/dev/identities")
		require.Equal(t, http.StatusNotFound, status)
		status, _ = post(t, url+"/dev/token", `{"identity":"john"}`)
		require.Equal(t, http.StatusNotFound, status)
		// Guests are off under serve unless asked for.
		status, body := post(t, url+"/api/guest", "")
		require.Equal(t, http.StatusForbidden, status, body)
	})

	t.Run("serve with guests", func(t *testing.T) {
		media := t.TempDir()
		cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--migrate", "--log-level", "info",
			"--jwt-secret", strings.Repeat("k", 32), "--media-dir", media, "--guests", "--guest-ttl", "1h")
		cmd.Env = append(os.Environ(), "DATABASE_URL="+pgtest.NewDB(t))
		url, stop := startServe(t, cmd)
		defer stop()
		requireGuests(t, url)
		_, err := os.Stat(filepath.Join(media, "guest-key"))
		require.NoError(t, err, "the guest key is kept beside the media key")
	})

	t.Run("missing app", func(t *testing.T) {
		out, err := exec.Command(bin, "dev", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--web", t.TempDir()).CombinedOutput()
		require.Error(t, err)
		require.Contains(t, string(out), "no index.html")
	})
}

// requireGuests checks that url mints guest tokens with which a guest
// opens its support conversation.
func requireGuests(t *testing.T, url string) {
	t.Helper()
	status, body := post(t, url+"/api/guest", `{"name":"Visitor"}`)
	require.Equal(t, http.StatusOK, status, body)
	var guest struct{ Token, GuestID, Name string }
	require.NoError(t, json.Unmarshal([]byte(body), &guest))
	require.Equal(t, "Visitor", guest.Name)
	conv := call(t, url, "mutation", guest.Token, `{"path":"shared/chat:createOrGetConversation","args":{}}`)
	require.Equal(t, "success", conv["status"], conv)
	require.Equal(t, "customer_to_admin", conv["value"].(map[string]any)["conversationType"])
}

var serveAddrRE = regexp.MustCompile(`parley serving"? addr=(\S+)`)

// startServe starts `parley serve` and returns its URL and a function that
// stops it with SIGINT and waits.
func startServe(t *testing.T, cmd *exec.Cmd) (string, func()) {
	t.Helper()
	pipe, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	log := &lockedBuffer{}
	addrs := make(chan string, 1)
	done := make(chan error, 1)
	go func() { // owned: ends when the process closes stderr; stop waits for it via done
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if m := serveAddrRE.FindStringSubmatch(sc.Text()); m != nil {
				addrs <- m[1]
			}
		}
		done <- cmd.Wait()
	}()
	var url string
	select {
	case addr := <-addrs:
		url = "http://" + addr
	case err := <-done:
		t.Fatalf("parley serve exited: %v\n%s", err, log)
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("parley serve did not start:\n%s", log)
	}
	return url, func() {
		require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
		select {
		case err := <-done:
			require.NoError(t, err, log.String())
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("parley serve did not stop on SIGINT:\n%s", log)
		}
	}
}
