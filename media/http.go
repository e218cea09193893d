package media

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Register mounts the endpoints on mux:
//
//	POST /api/storage/upload?token=…   the bytes (raw, or the first file of a
//	                                   multipart form) → {"storageId": "file…"}
//	GET  /api/storage/{file}/{variant}?c=…&e=…&s=…   a signed download
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST "+UploadPath, s.serveUpload)
	mux.HandleFunc("GET /api/storage/{file}/{variant}", s.serveDownload)
}

// errorBody is the JSON of an error answer: the shape of the functions'
// errorData, so clients handle both alike.
type errorBody struct {
	Code         string `json:"code"`
	Status       int    `json:"status"`
	Error        string `json:"error"`
	RetryAfterMs int    `json:"retryAfterMs,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) //nolint:errcheck
}

// uploadError maps an upload's failure to its answer; internal reports an
// error whose text must not reach the client.
func uploadError(err error, lim limits) (status int, body errorBody, result string, internal bool) {
	invalid := func(result, msg string) (int, errorBody, string, bool) {
		return http.StatusBadRequest, errorBody{Code: "invalid_argument", Status: http.StatusBadRequest, Error: msg}, result, false
	}
	var (
		big        *tooBigError
		notAllowed *notAllowedError
	)
	switch {
	case errors.Is(err, ErrTooLarge):
		// The API document's wording.
		return invalid("too_large", fmt.Sprintf("Image size exceeds %dMB limit", lim.maxMB))
	case errors.Is(err, ErrEmpty):
		return invalid("empty", "Image is empty")
	case errors.Is(err, ErrUnsupported):
		return invalid("unsupported", "Unsupported image type; allowed types: "+strings.Join(lim.allowed, ", "))
	case errors.As(err, &notAllowed):
		return invalid("not_allowed", fmt.Sprintf("Image type %s is not allowed; allowed types: %s",
			notAllowed.format, strings.Join(lim.allowed, ", ")))
	case errors.As(err, &big):
		return invalid("too_big", big.Error())
	case errors.Is(err, ErrTooBig):
		// The processor's own reading of the header (libvips) found
		// bigger dimensions than ReadHeader: the same refusal.
		return invalid("too_big", fmt.Sprintf("Image dimensions exceed the limit of %d megapixels", lim.maxPixels/1_000_000))
	case errors.Is(err, ErrCorrupt):
		return invalid("corrupt", "Image is corrupt or truncated")
	case errors.Is(err, ErrBusy):
		return http.StatusServiceUnavailable, errorBody{Code: "unavailable", Status: http.StatusServiceUnavailable,
			Error: "Too many images are being processed; try again shortly"}, "busy", false
	case errors.Is(err, errOwnerBusy):
		return http.StatusTooManyRequests, errorBody{Code: "rate_limited", Status: http.StatusTooManyRequests,
			Error: "Too many uploads in progress: try again in 1.0s", RetryAfterMs: 1000}, "rate_limited", false
	case errors.Is(err, errBodyTimeout):
		return http.StatusRequestTimeout, errorBody{Code: "timeout", Status: http.StatusRequestTimeout,
			Error: "Upload took too long"}, "timeout", false
	case errors.Is(err, ErrUploadURLNotFound):
		return http.StatusNotFound, errorBody{Code: "not_found", Status: http.StatusNotFound, Error: "Upload URL not found"}, "url", false
	case errors.Is(err, ErrUploadURLUsed):
		return http.StatusGone, errorBody{Code: "gone", Status: http.StatusGone, Error: "Upload URL was already used"}, "url", false
	case errors.Is(err, ErrUploadURLExpired):
		return http.StatusGone, errorBody{Code: "gone", Status: http.StatusGone, Error: "Upload URL has expired"}, "url", false
	case errors.Is(err, ErrUploadURLOwner):
		return http.StatusForbidden, errorBody{Code: "forbidden", Status: http.StatusForbidden, Error: "Upload URL belongs to another user"}, "url", false
	case errors.Is(err, errUnauthenticated):
		return http.StatusUnauthorized, errorBody{Code: "unauthenticated", Status: http.StatusUnauthorized, Error: "Invalid token"}, "url", false
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		// The store is full: not the upload's fault, and nothing of it
		// was kept. Logged as an error: someone must make room.
		return http.StatusServiceUnavailable, errorBody{Code: "unavailable", Status: http.StatusServiceUnavailable,
			Error: "The image store is full: try again later", RetryAfterMs: storageFullRetryMs}, "storage_full", true
	case errors.Is(err, errClientGone), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusBadRequest, errorBody{Code: "invalid_argument", Status: http.StatusBadRequest, Error: "Upload was interrupted"}, "interrupted", false
	}
	return http.StatusInternalServerError, errorBody{Code: "internal", Status: http.StatusInternalServerError, Error: "Internal server error"}, "error", true
}

// storageFullRetryMs is the retryAfterMs of an upload the full store
// refused: freeing space takes a person, not a moment.
const storageFullRetryMs = 30_000

var (
	errUnauthenticated = errors.New("media: invalid token")
	errClientGone      = errors.New("media: upload interrupted")
	errOwnerBusy       = errors.New("media: too many uploads in flight for this user")
	errBodyTimeout     = errors.New("media: upload body too slow")
)

func (s *Service) serveUpload(w http.ResponseWriter, r *http.Request) {
	lim := limits{maxMB: 5, maxPixels: s.cfg.MaxPixels, allowed: []string{"image/jpeg", "image/png", "image/gif", "image/webp"}}
	fail := func(err error) {
		status, body, result, internal := uploadError(err, lim)
		if internal {
			s.log.Error("upload failed", slog.Any(logError, err))
		}
		s.m.uploads.WithLabelValues(result).Inc()
		switch status {
		case http.StatusServiceUnavailable, http.StatusTooManyRequests:
			w.Header().Set("Retry-After", strconv.Itoa(max(1, (body.RetryAfterMs+999)/1000)))
		case http.StatusRequestTimeout:
			w.Header().Set("Connection", "close")
		}
		writeJSON(w, status, body)
	}
	ctx := r.Context()
	var caller string
	if h := r.Header.Get("Authorization"); h != "" && s.cfg.Authenticate != nil {
		token, ok := strings.CutPrefix(h, "Bearer ")
		sub, err := s.cfg.Authenticate(ctx, token)
		if !ok || err != nil {
			fail(errUnauthenticated)
			return
		}
		caller = sub
	}
	// The body is read before the upload takes a processing place, so a
	// slow one holds only its owner's place and one of MaxReading; the URL
	// is used only once the upload is admitted.
	token := r.URL.Query().Get("token")
	owner, err := s.checkUploadURL(ctx, token, caller)
	if err != nil {
		fail(err)
		return
	}
	if !s.enterOwner(owner) {
		fail(errOwnerBusy)
		return
	}
	defer s.leaveOwner(owner)
	if lim, err = s.limits(ctx, owner); err != nil {
		fail(err)
		return
	}
	if !s.startReading() {
		fail(ErrBusy)
		return
	}
	rc := http.NewResponseController(w)
	deadline := rc.SetReadDeadline(time.Now().Add(s.cfg.UploadTimeout)) == nil
	data, readErr := readImage(w, r, lim.maxBytes)
	s.doneReading()
	if deadline && readErr == nil {
		rc.SetReadDeadline(time.Time{}) //nolint:errcheck // it was supported a moment ago
	}
	// A body read (or refused) spends the URL, unless the upload is
	// refused for load (503): then its URL stays usable.
	if readErr == nil {
		if !s.admit() {
			fail(ErrBusy)
			return
		}
		defer s.leave()
	}
	// Spent even if the client is gone meanwhile (a failed read cancels
	// the request's context).
	claimCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	err = s.claimUploadURL(claimCtx, token)
	cancel()
	if err != nil {
		fail(err)
		return
	}
	if readErr != nil {
		fail(readErr)
		return
	}
	f, err := s.ingest(ctx, owner, "", data, lim, func() *time.Time { t := s.cfg.Now().Add(s.cfg.UnattachedTTL); return &t }())
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			s.log.Info("rejected image", slog.String(logOwner, owner), slog.Any(logError, err))
		}
		fail(err)
		return
	}
	s.m.uploads.WithLabelValues("ok").Inc()
	writeJSON(w, http.StatusOK, map[string]string{"storageId": f.ID})
}

// readImage reads an upload's image: the raw body, or the first file of a
// multipart/form-data body, at most limit bytes. A body over the limit is
// read on (to at most twice the limit) so the client gets the answer
// rather than a reset connection; beyond that the connection is closed.
func readImage(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	const formSlack = 64 << 10 // multipart boundaries and part headers
	capacity := 2*limit + formSlack
	if r.ContentLength > capacity {
		w.Header().Set("Connection", "close")
		return nil, ErrTooLarge
	}
	body := http.MaxBytesReader(w, r.Body, capacity)
	var src io.Reader = body
	if mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && mt == "multipart/form-data" {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return nil, ErrEmpty
			}
			if err != nil {
				return nil, bodyError(err)
			}
			if p.FileName() != "" || p.FormName() == "file" {
				src = p
				break
			}
		}
	}
	data, err := io.ReadAll(io.LimitReader(src, limit+1))
	if err != nil {
		return nil, bodyError(err)
	}
	if int64(len(data)) > limit {
		io.Copy(io.Discard, body) //nolint:errcheck // best effort: MaxBytesReader bounds it
		return nil, ErrTooLarge
	}
	return data, nil
}

func bodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return ErrTooLarge
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w: %v", errBodyTimeout, err)
	}
	return fmt.Errorf("%w: %v", errClientGone, err)
}

// Download headers: the bytes are what the server encoded, and the browser
// must treat them as nothing but an image of the stated type.
func setDownloadHeaders(h http.Header, contentType string) {
	h.Set("Content-Type", contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "private, no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Content-Disposition", "inline")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
}

func (s *Service) serveDownload(w http.ResponseWriter, r *http.Request) {
	file, variant := r.PathValue("file"), Variant(r.PathValue("variant"))
	q := r.URL.Query()
	conv := q.Get("c")
	fail := func(status int, code, msg, result string) {
		s.m.downloads.WithLabelValues(result).Inc()
		writeJSON(w, status, errorBody{Code: code, Status: status, Error: msg})
	}
	if variant != VariantImage && variant != VariantThumb {
		fail(http.StatusNotFound, "not_found", "Not found", "not_found")
		return
	}
	switch err := s.signer.Verify(conv, file, variant, q.Get("e"), q.Get("s"), s.cfg.Now()); {
	case errors.Is(err, ErrURLExpired):
		fail(http.StatusForbidden, "forbidden", "Image URL has expired", "expired")
		return
	case err != nil:
		fail(http.StatusForbidden, "forbidden", "Invalid image URL", "bad_signature")
		return
	}
	contentType, key, err := s.lookup(r.Context(), conv, file, variant)
	if errors.Is(err, ErrNotFound) {
		fail(http.StatusNotFound, "not_found", "Image not found", "not_found")
		return
	}
	if err != nil {
		s.log.Error("download", slog.String(logFile, file), slog.Any(logError, err))
		fail(http.StatusInternalServerError, "internal", "Internal server error", "error")
		return
	}
	obj, _, err := s.cfg.Store.Open(r.Context(), key)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			s.log.Error("download", slog.String(logFile, file), slog.Any(logError, err))
		} else {
			s.log.Warn("stored image missing", slog.String(logFile, file), slog.String(logKey, key))
		}
		fail(http.StatusNotFound, "not_found", "Image not found", "not_found")
		return
	}
	defer obj.Close()
	setDownloadHeaders(w.Header(), contentType)
	s.m.downloads.WithLabelValues("ok").Inc()
	// No name and a set Content-Type: ServeContent does not sniff. It
	// answers HEAD and ranges.
	http.ServeContent(w, r, "", time.Time{}, obj)
}

// lookup finds the stored object of a file's variant, if the file is the
// image of an undeleted message of conv (messages.image_file_id decides,
// as it does for the queries that list it).
func (s *Service) lookup(ctx context.Context, conv, file string, v Variant) (contentType, key string, err error) {
	var image string
	var thumb *string
	err = s.cfg.Pool.QueryRow(ctx, `SELECT f.content_type, f.storage_key, f.thumb_key
		FROM files f WHERE f.id = $1 AND EXISTS (SELECT 1 FROM messages m
			WHERE m.image_file_id = f.id AND m.conversation_id = $2 AND NOT m.is_deleted)`, file, conv).Scan(&contentType, &image, &thumb)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", ErrNotFound
	}
	if err != nil {
		return "", "", fmt.Errorf("look up file: %w", err)
	}
	if v == VariantThumb {
		if thumb == nil {
			return "", "", ErrNotFound
		}
		return contentType, *thumb, nil
	}
	return contentType, image, nil
}
