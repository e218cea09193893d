package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/testimages"
	"github.com/parley-chat/parley/schema"
)

// fillerName is the file that fills the media directory's filesystem.
const fillerName = "filler"

// fullMediaDir is the media directory on a filesystem of its own that the
// test can fill: a 2 MiB tmpfs. Mounting needs root (CAP_SYS_ADMIN); when
// it is refused the fault is skipped, saying why.
func fullMediaDir(t *testing.T) envOptions {
	dir := filepath.Join(t.TempDir(), "media")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a 2 MiB tmpfs for the media directory (needs root): %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return envOptions{mediaDir: dir}
}

// fill writes the filler until the filesystem is full, and says whether
// it really hit ENOSPC.
func fill(dir string) error {
	f, err := os.Create(filepath.Join(dir, fillerName))
	if err != nil {
		return err
	}
	defer f.Close()
	for _, size := range []int{1 << 20, 4 << 10, 1} {
		chunk := make([]byte, size)
		for {
			if _, err = f.Write(chunk); err != nil {
				break
			}
		}
		if !errors.Is(err, syscall.ENOSPC) {
			return fmt.Errorf("filling %s: %w, not ENOSPC", dir, err)
		}
	}
	return nil
}

// stored lists what the media directory holds besides the filler and the
// URL signing key.
func stored(dir string) []string {
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if rel != fillerName && rel != "media-key" {
			out = append(out, rel)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// uploadResult is one upload's answer.
type uploadResult struct {
	status int
	body   map[string]any
}

// upload does what an app does: generateUploadUrl over the sync protocol,
// then a POST of the image bytes to that URL.
func upload(e *env, seed uint64) (uploadResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := dialJohn(ctx, e)
	if err != nil {
		return uploadResult{}, err
	}
	defer c.Close()
	raw, err := c.Mutation(ctx, "shared/chat:generateUploadUrl", map[string]any{})
	if err != nil {
		return uploadResult{}, fmt.Errorf("generateUploadUrl: %w", err)
	}
	var postURL string
	if err := json.Unmarshal(raw, &postURL); err != nil {
		return uploadResult{}, fmt.Errorf("generateUploadUrl answered %s", raw)
	}
	img := testimages.JPEG(testimages.Photo(640, 480, seed), 85)
	req, err := http.NewRequestWithContext(ctx, "POST", postURL, bytes.NewReader(img))
	if err != nil {
		return uploadResult{}, err
	}
	req.Header.Set("Content-Type", "image/jpeg")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return uploadResult{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := uploadResult{status: resp.StatusCode}
	if err := json.Unmarshal(b, &r.body); err != nil {
		return r, fmt.Errorf("upload answered %d %q", resp.StatusCode, b)
	}
	return r, nil
}

// clearStorageError reports whether a failed upload says what is wrong:
// the store is out of space (507 Insufficient Storage, or 503 unavailable
// naming storage), rather than a bare internal error.
func clearStorageError(r uploadResult) bool {
	msg, _ := r.body["error"].(string)
	msg = strings.ToLower(msg)
	named := strings.Contains(msg, "space") || strings.Contains(msg, "storage") || strings.Contains(msg, "full")
	return (r.status == http.StatusInsufficientStorage || r.status == http.StatusServiceUnavailable) && named
}

// mediaFull fills the media directory's filesystem, tries f.uploads
// uploads (each must fail with a clear error and leave nothing behind:
// no object in the store, no files row), then frees the space.
func mediaFull(t *testing.T, e *env, f form, r *row) {
	dir := e.mediaDir
	var filesBefore int
	if err := e.db.QueryRow(t.Context(), `SELECT count(*) FROM files WHERE owner_id = $1`, schema.DemoCustomerID).Scan(&filesBefore); err != nil {
		t.Fatal(err)
	}
	before := stored(dir)
	if err := fill(dir); err != nil {
		t.Fatal(err)
	}
	answers := map[string]int{}
	unclear := 0
	for i := range f.uploads {
		res, err := upload(e, uint64(i+1))
		switch {
		case err != nil:
			r.problems = append(r.problems, "upload on a full disk: "+err.Error())
			t.Errorf("upload %d on a full disk: %v", i, err)
			continue
		case res.status == http.StatusOK:
			r.problems = append(r.problems, "an upload succeeded on a full disk")
			t.Errorf("upload %d succeeded on a full disk: %v", i, res.body)
			continue
		}
		answers[fmt.Sprintf("%d %v", res.status, res.body["error"])]++
		if !clearStorageError(res) {
			unclear++
		}
	}
	if h, _ := e.health(); h.Media != "full" || h.Status != "degraded" {
		msg := fmt.Sprintf("healthz says media %q, status %q while the store is full", h.Media, h.Status)
		r.problems = append(r.problems, msg)
		t.Error(msg)
	} else {
		r.notes = append(r.notes, "healthz: degraded (media full)")
	}
	var kinds []string
	for a, n := range answers {
		kinds = append(kinds, fmt.Sprintf("%d× %s", n, a))
	}
	sort.Strings(kinds)
	r.notes = append(r.notes, "uploads on a full disk answered "+brief(kinds))
	if unclear > 0 {
		msg := fmt.Sprintf("%d of %d uploads on a full disk failed without saying the store is full (want 507, or 503 naming storage)", unclear, f.uploads)
		r.problems = append(r.problems, msg)
		t.Error(msg)
	}
	if left := stored(dir); len(left) != len(before) {
		msg := fmt.Sprintf("half-written uploads in the media directory: %v", left)
		r.problems = append(r.problems, msg)
		t.Error(msg)
	}
	var filesAfter int
	if err := e.db.QueryRow(t.Context(), `SELECT count(*) FROM files WHERE owner_id = $1`, schema.DemoCustomerID).Scan(&filesAfter); err != nil {
		t.Fatal(err)
	}
	if filesAfter != filesBefore {
		msg := fmt.Sprintf("%d files rows recorded for failed uploads", filesAfter-filesBefore)
		r.problems = append(r.problems, msg)
		t.Error(msg)
	}
	if err := os.Remove(filepath.Join(dir, fillerName)); err != nil {
		t.Fatal(err)
	}
}

// uploadsWork is recovery from a full disk: an upload succeeds, and its
// image and thumbnail are in the store.
func uploadsWork(t *testing.T, e *env) error {
	before := len(stored(e.mediaDir))
	res, err := upload(e, uint64(time.Now().UnixNano()))
	if err != nil {
		return err
	}
	if res.status != http.StatusOK {
		return fmt.Errorf("upload: %d %v", res.status, res.body)
	}
	if n := len(stored(e.mediaDir)); n < before+2 {
		return fmt.Errorf("upload answered ok but the store holds %d objects, was %d", n, before)
	}
	if h, _ := e.health(); h.Media != "ok" {
		return fmt.Errorf("an upload was stored, but healthz still says media %q", h.Media)
	}
	return nil
}
