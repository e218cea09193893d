package media

import (
	"fmt"
	"io/fs"
	"net/http"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// A store that ran out of space refuses an upload as unavailable, saying
// the store is full, and the refusal is logged as an error (someone must
// make room); a bare 500 told the client nothing. The chaos suite's media
// fault makes a real full disk (internal/chaos).
func TestFullStoreIsUnavailable(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT} {
		err := fmt.Errorf("store: write: %w", &fs.PathError{Op: "write", Path: "/media/x.webp", Err: errno})
		status, body, result, logged := uploadError(err, limits{})
		require.Equal(t, http.StatusServiceUnavailable, status, errno)
		require.Equal(t, "unavailable", body.Code)
		require.Equal(t, "The image store is full: try again later", body.Error)
		require.Equal(t, storageFullRetryMs, body.RetryAfterMs)
		require.Equal(t, "storage_full", result)
		require.True(t, logged)
	}
}
