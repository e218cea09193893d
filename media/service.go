package media

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-chat/parley/schema"
)

// Config configures a Service.
type Config struct {
	// Pool reaches the database with the files and upload_urls tables.
	// Required.
	Pool *pgxpool.Pool
	// Store holds the images. Required (NewDirStore for a local directory).
	Store Store
	// Processor validates and compresses images. Required (media/vips).
	Processor Processor
	// Key signs download URLs; at least MinKeyLen bytes. Required. Every
	// node serving the same database needs the same key.
	Key []byte
	// BaseURL is the server's public URL, http(s)://host[:port]: upload
	// and download URLs start with it. Required.
	BaseURL string

	// Format is what images are re-encoded as: WebP or JPEG. Zero means
	// WebP. Animations are kept only in WebP; in JPEG they become their
	// first frame.
	Format Format
	// Quality is the encoder's quality, 1–100. Zero means 80.
	Quality int
	// MaxEdge bounds the long edge of a stored image. Zero means 1600.
	MaxEdge int
	// AnimationEdge bounds the long edge of a stored animation. Zero
	// means 640.
	AnimationEdge int
	// ThumbEdge bounds the long edge of a thumbnail. Zero means 320.
	ThumbEdge int
	// MaxPixels bounds an upload's canvas (width × height, read from its
	// header before decoding): the decompression-bomb cap. Zero means
	// 50 megapixels.
	MaxPixels int64
	// MaxDecodeBytes bounds Header.BufferBytes, the memory a decoder
	// must hold at once for images it cannot stream row by row
	// (progressive JPEG, interlaced or 16-bit PNG), which the pixel cap
	// alone does not bound: a 7000×7000 progressive 4:4:4 JPEG holds
	// 294 MB of coefficients. Zero means 80 MiB: a 12-megapixel
	// progressive photo (36 MB in 4:2:0, 72 MB in 4:4:4) or interlaced
	// 8-bit RGBA PNG (48 MB) passes; larger ones are refused with the
	// same 400 as the pixel cap.
	MaxDecodeBytes int64
	// MaxFrames and MaxAnimationPixels are the animation budget: an
	// animated GIF or WebP keeps its animation only if it has at most
	// MaxFrames frames and at most MaxAnimationPixels pixels over all of
	// them; otherwise only its first frame is kept. Zero means 100 frames
	// and 40 megapixels.
	MaxFrames          int
	MaxAnimationPixels int64
	// KeepOriginals stores the upload as sent, too (never served). Zero
	// (false) keeps only the compressed image and its thumbnail.
	KeepOriginals bool

	// Workers bounds the images processed at once. Zero means
	// min(2, GOMAXPROCS).
	Workers int
	// MaxQueued bounds the uploads admitted beyond Workers (reading their
	// body or waiting for a worker); more are answered 503. Zero means
	// 2 × Workers.
	MaxQueued int
	// UploadTimeout bounds reading one upload's body: a body that has
	// not fully arrived by then is answered 408. Bodies are read before
	// an upload takes one of the Workers+MaxQueued places, so a slow body
	// holds only its owner's place (MaxUploadsPerOwner) and one of
	// MaxReading. Zero means 30s.
	UploadTimeout time.Duration
	// MaxUploadsPerOwner bounds one user's uploads in flight (reading,
	// queued or processing); more are answered 429 with retryAfterMs,
	// before their body is read. Zero means 2.
	MaxUploadsPerOwner int
	// MaxReading bounds the upload bodies being read at once over all
	// users; more are answered 503 before their body is read. Zero means
	// 32.
	MaxReading int

	// UploadURLTTL is how long an upload URL from generateUploadUrl stays
	// usable. Zero means 1h.
	UploadURLTTL time.Duration
	// UnattachedTTL is how long an uploaded file may stay unattached to a
	// message before the janitor removes it. Zero means 1h.
	UnattachedTTL time.Duration
	// URLTTL is the lifetime of signed download URLs: each lasts between
	// URLTTL/2 and URLTTL. Zero means 1h.
	URLTTL time.Duration
	// SweepInterval is how often Run removes expired files and upload
	// URLs. Zero means 1m.
	SweepInterval time.Duration

	// Authenticate checks the bearer token an upload may carry and
	// returns its subject: an upload URL used by someone else is refused.
	// ctx is the upload request's. Nil ignores the Authorization header
	// (the URL alone authorises).
	Authenticate func(ctx context.Context, token string) (subject string, err error)
	// Registerer receives the media metrics. Nil registers none.
	Registerer prometheus.Registerer
	// Logger receives logs. Nil discards them.
	Logger *slog.Logger
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// Service is the media service: the upload and download endpoints, upload
// URLs, URL signing and the janitor. Safe for concurrent use.
type Service struct {
	cfg    Config
	log    *slog.Logger
	signer *Signer
	m      *metrics
	// inFlight counts admitted uploads (reading, queued or processing);
	// slots holds one token per running job.
	inFlight atomic.Int64
	slots    chan struct{}
	// reading counts the bodies being read; owners the uploads in
	// flight per owner.
	reading  atomic.Int64
	ownersMu sync.Mutex
	owners   map[string]int
	// full: the last store write ran out of space (until one succeeds).
	full atomic.Bool
}

// StoreFull reports whether the last image the store was given failed
// for lack of space (ENOSPC, EDQUOT) and none has been stored since:
// /healthz says so.
func (s *Service) StoreFull() bool { return s.full.Load() }

// Log attribute keys.
const (
	logError  = "error"
	logFile   = "file"
	logOwner  = "owner"
	logResult = "result"
	logKey    = "key"
)

// New validates cfg, fills its defaults and returns the service.
func New(cfg Config) (*Service, error) {
	if cfg.Pool == nil || cfg.Store == nil || cfg.Processor == nil {
		return nil, errors.New("media: Pool, Store and Processor are required")
	}
	if cfg.Format == FormatUnknown {
		cfg.Format = WebP
	}
	if cfg.Format != WebP && cfg.Format != JPEG {
		return nil, fmt.Errorf("media: images are stored as WebP or JPEG, not %s", cfg.Format)
	}
	if cfg.Quality == 0 {
		cfg.Quality = 80
	}
	if cfg.Quality < 1 || cfg.Quality > 100 {
		return nil, fmt.Errorf("media: quality %d is not in 1–100", cfg.Quality)
	}
	fill := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	fill(&cfg.MaxEdge, 1600)
	fill(&cfg.AnimationEdge, 640)
	fill(&cfg.ThumbEdge, 320)
	fill(&cfg.MaxFrames, 100)
	fill(&cfg.Workers, min(2, runtime.GOMAXPROCS(0)))
	fill(&cfg.MaxQueued, 2*cfg.Workers)
	fill(&cfg.MaxUploadsPerOwner, 2)
	fill(&cfg.MaxReading, 32)
	if cfg.MaxPixels <= 0 {
		cfg.MaxPixels = 50_000_000
	}
	if cfg.MaxDecodeBytes <= 0 {
		cfg.MaxDecodeBytes = 80 << 20
	}
	if cfg.MaxAnimationPixels <= 0 {
		cfg.MaxAnimationPixels = 40_000_000
	}
	fillD := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	fillD(&cfg.UploadTimeout, 30*time.Second)
	fillD(&cfg.UploadURLTTL, time.Hour)
	fillD(&cfg.UnattachedTTL, time.Hour)
	fillD(&cfg.URLTTL, time.Hour)
	fillD(&cfg.SweepInterval, time.Minute)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	signer, err := NewSigner(cfg.Key, cfg.BaseURL, cfg.URLTTL)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, log: log, signer: signer, m: m, slots: make(chan struct{}, cfg.Workers),
		owners: make(map[string]int)}, nil
}

// Config returns the configuration with its defaults filled in.
func (s *Service) Config() Config { return s.cfg }

// Sign returns the download URLs of a file shown in a conversation; see
// Signer.Sign.
func (s *Service) Sign(conversationID, fileID string, now time.Time) Signed {
	return s.signer.Sign(conversationID, fileID, now)
}

// UploadPath is the path upload URLs point at.
const UploadPath = "/api/storage/upload"

// NewUploadURL records a single-use upload URL for ownerID through q (the
// generateUploadUrl mutation's transaction, so the URL exists only if it
// commits) and returns it. It expires UploadURLTTL after now.
func (s *Service) NewUploadURL(ctx context.Context, q schema.Querier, ownerID string, now time.Time) (string, error) {
	raw := make([]byte, 32)
	rand.Read(raw)
	token := base64.RawURLEncoding.EncodeToString(raw)
	if _, err := q.Exec(ctx, `INSERT INTO upload_urls (token_hash, owner_id, expires_at) VALUES ($1, $2, $3)`,
		tokenHash(token), ownerID, now.Add(s.cfg.UploadURLTTL)); err != nil {
		return "", fmt.Errorf("record upload url: %w", err)
	}
	return s.signer.Base() + UploadPath + "?token=" + token, nil
}

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// checkUploadURL checks an upload URL's token without using it. caller,
// when not empty, is the authenticated sender: it must be the URL's owner.
// It returns the owner.
func (s *Service) checkUploadURL(ctx context.Context, token, caller string) (string, error) {
	if token == "" {
		return "", ErrUploadURLNotFound
	}
	var (
		owner   string
		expires time.Time
		used    *time.Time
	)
	h := tokenHash(token)
	err := s.cfg.Pool.QueryRow(ctx, `SELECT owner_id, expires_at, used_at FROM upload_urls WHERE token_hash = $1`, h).
		Scan(&owner, &expires, &used)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "", ErrUploadURLNotFound
	case err != nil:
		return "", fmt.Errorf("read upload url: %w", err)
	case caller != "" && caller != owner:
		return "", ErrUploadURLOwner // and it stays usable by its owner
	case used != nil:
		return "", ErrUploadURLUsed
	case !s.cfg.Now().Before(expires):
		return "", ErrUploadURLExpired
	}
	return owner, nil
}

// claimUploadURL marks a checked upload URL used. Single use even against
// a concurrent twin: only one UPDATE matches; and the URL must still be
// unexpired (its body may have taken a while).
func (s *Service) claimUploadURL(ctx context.Context, token string) error {
	now := s.cfg.Now()
	tag, err := s.cfg.Pool.Exec(ctx, `UPDATE upload_urls SET used_at = $2
		WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2`, tokenHash(token), now)
	if err != nil {
		return fmt.Errorf("claim upload url: %w", err)
	}
	if tag.RowsAffected() == 0 {
		var used bool
		err := s.cfg.Pool.QueryRow(ctx, `SELECT used_at IS NOT NULL FROM upload_urls WHERE token_hash = $1`, tokenHash(token)).Scan(&used)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return ErrUploadURLNotFound // swept meanwhile
		case err != nil:
			return fmt.Errorf("claim upload url: %w", err)
		case used:
			return ErrUploadURLUsed
		}
		return ErrUploadURLExpired
	}
	return nil
}

// enterOwner counts an upload of owner in; false when MaxUploadsPerOwner
// are in already.
func (s *Service) enterOwner(owner string) bool {
	s.ownersMu.Lock()
	defer s.ownersMu.Unlock()
	if s.owners[owner] >= s.cfg.MaxUploadsPerOwner {
		return false
	}
	s.owners[owner]++
	return true
}

func (s *Service) leaveOwner(owner string) {
	s.ownersMu.Lock()
	defer s.ownersMu.Unlock()
	if s.owners[owner]--; s.owners[owner] <= 0 {
		delete(s.owners, owner)
	}
}

// startReading counts a body being read; false when MaxReading are.
func (s *Service) startReading() bool {
	if s.reading.Add(1) > int64(s.cfg.MaxReading) {
		s.reading.Add(-1)
		return false
	}
	return true
}

func (s *Service) doneReading() { s.reading.Add(-1) }

// admit counts an upload in; false when Workers+MaxQueued are in already.
func (s *Service) admit() bool {
	if s.inFlight.Add(1) > int64(s.cfg.Workers+s.cfg.MaxQueued) {
		s.inFlight.Add(-1)
		return false
	}
	s.m.inFlight.Inc()
	return true
}

func (s *Service) leave() {
	s.inFlight.Add(-1)
	s.m.inFlight.Dec()
}

// limits are the chat settings an upload is checked against.
type limits struct {
	maxBytes  int64
	maxMB     int
	maxPixels int64 // Config.MaxPixels, for the answer's message
	allowed   []string
}

// limits reads the settings of owner's org (the default org's when the
// owner has no users row yet).
func (s *Service) limits(ctx context.Context, owner string) (limits, error) {
	var org string
	if err := s.cfg.Pool.QueryRow(ctx, `SELECT coalesce((SELECT org_id FROM users WHERE id = $1), '')`, owner).Scan(&org); err != nil {
		return limits{}, fmt.Errorf("read owner's org: %w", err)
	}
	st, err := schema.NewDB(s.cfg.Pool, nil).Settings(ctx, org)
	if err != nil {
		return limits{}, fmt.Errorf("read chat settings: %w", err)
	}
	return limits{maxBytes: int64(st.MaxImageSizeMB) << 20, maxMB: st.MaxImageSizeMB, maxPixels: s.cfg.MaxPixels,
		allowed: st.AllowedImageTypes}, nil
}

func (l limits) allows(f Format) bool {
	for _, t := range l.allowed {
		if t == f.MIME() {
			return true
		}
	}
	return false
}

// File is a stored upload as the service measured it.
type File struct {
	ID          string
	Owner       string
	Format      Format
	Size        int64
	Width       int
	Height      int
	Frames      int
	ThumbWidth  int
	ThumbHeight int
}

// ingest validates, processes and stores one image for owner under id
// (new if ""), expiring at expires (nil: never). Nothing is stored unless
// every check passes.
func (s *Service) ingest(ctx context.Context, owner, id string, data []byte, lim limits, expires *time.Time) (File, error) {
	if len(data) == 0 {
		return File{}, ErrEmpty
	}
	if int64(len(data)) > lim.maxBytes {
		return File{}, ErrTooLarge
	}
	h, err := readHeader(data)
	if err != nil {
		return File{}, err
	}
	if !lim.allows(h.Format) {
		return File{}, &notAllowedError{format: h.Format}
	}
	if h.Pixels() > s.cfg.MaxPixels || h.DecodedPixels(1) > s.cfg.MaxPixels {
		return File{}, &tooBigError{w: h.Width, h: h.Height, max: s.cfg.MaxPixels}
	}
	if h.BufferBytes > s.cfg.MaxDecodeBytes {
		return File{}, &tooBigError{w: h.Width, h: h.Height, max: s.cfg.MaxPixels, kind: h.kind(), buffer: s.cfg.MaxDecodeBytes}
	}
	job := Job{Src: data, Header: h, Format: s.cfg.Format, Quality: s.cfg.Quality, MaxEdge: s.cfg.MaxEdge,
		ThumbEdge: s.cfg.ThumbEdge, MaxDecodedPixels: h.DecodedPixels(1)}
	if h.Frames > 1 && s.cfg.Format == WebP && h.Frames <= s.cfg.MaxFrames &&
		h.DecodedPixels(h.Frames) <= s.cfg.MaxAnimationPixels {
		job.Animate, job.MaxEdge, job.MaxDecodedPixels = true, s.cfg.AnimationEdge, h.DecodedPixels(h.Frames)
	}
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return File{}, ctx.Err()
	}
	start := time.Now()
	out, err := process(ctx, s.cfg.Processor, job)
	<-s.slots
	s.m.processSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		return File{}, err
	}
	if id == "" {
		id = schema.NewID("file")
	}
	f := File{ID: id, Owner: owner, Format: s.cfg.Format, Size: int64(len(out.Image.Data)),
		Width: out.Image.Width, Height: out.Image.Height, Frames: max(1, out.Image.Frames),
		ThumbWidth: out.Thumb.Width, ThumbHeight: out.Thumb.Height}
	keys := storageKeys(id, s.cfg.Format, h.Format)
	puts := []struct {
		key  string
		data []byte
	}{{keys.image, out.Image.Data}, {keys.thumb, out.Thumb.Data}}
	var origKey, origType *string
	var origSize *int64
	if s.cfg.KeepOriginals {
		puts = append(puts, struct {
			key  string
			data []byte
		}{keys.original, data})
		t, n := h.Format.MIME(), int64(len(data))
		origKey, origType, origSize = &keys.original, &t, &n
	}
	var stored []string
	undo := func() {
		for _, k := range stored {
			if err := s.cfg.Store.Delete(context.WithoutCancel(ctx), k); err != nil {
				s.log.Warn("remove stored image", slog.String(logKey, k), slog.Any(logError, err))
			}
		}
	}
	for _, p := range puts {
		if err := s.cfg.Store.Put(ctx, p.key, p.data); err != nil {
			undo()
			if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
				s.full.Store(true)
			}
			return File{}, fmt.Errorf("store image: %w", err)
		}
		stored = append(stored, p.key)
	}
	s.full.Store(false)
	tag, err := s.cfg.Pool.Exec(ctx, `INSERT INTO files (id, owner_id, content_type, size_bytes, width, height, storage_key,
			thumb_key, thumb_width, thumb_height, frames, original_key, original_type, original_size, expires_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) ON CONFLICT (id) DO NOTHING`,
		f.ID, owner, f.Format.MIME(), f.Size, f.Width, f.Height, keys.image, keys.thumb, f.ThumbWidth, f.ThumbHeight,
		f.Frames, origKey, origType, origSize, expires, s.cfg.Now())
	if err == nil && tag.RowsAffected() == 0 {
		err = fmt.Errorf("file %s exists", f.ID)
	}
	if err != nil {
		undo()
		return File{}, fmt.Errorf("record file: %w", err)
	}
	return f, nil
}

type tooBigError struct {
	w, h int
	max  int64
	// buffer, when set, is the MaxDecodeBytes the image's decoding
	// memory exceeds; kind names what makes it need that much.
	buffer int64
	kind   string
}

func (e *tooBigError) Error() string {
	if e.buffer > 0 {
		return fmt.Sprintf("Image dimensions %dx%d are too large for %s (limit: %d MB to decode)", e.w, e.h, e.kind, e.buffer>>20)
	}
	return fmt.Sprintf("Image dimensions %dx%d exceed the limit of %d megapixels", e.w, e.h, e.max/1_000_000)
}

func (e *tooBigError) Unwrap() error { return ErrTooBig }

type notAllowedError struct{ format Format }

func (e *notAllowedError) Error() string { return ErrNotAllowed.Error() + ": " + e.format.String() }

func (e *notAllowedError) Unwrap() error { return ErrNotAllowed }

type keys struct{ image, thumb, original string }

// storageKeys spreads files over 1024 directories by the id's random part.
func storageKeys(id string, stored, original Format) keys {
	dir := "00"
	if len(id) >= 6 {
		dir = id[len(id)-2:]
	}
	base := dir + "/" + id
	return keys{image: base + "." + stored.Ext(), thumb: base + ".thumb." + stored.Ext(), original: base + ".orig." + original.Ext()}
}

// Sweep removes the files that were uploaded but not attached before they
// expired (their rows, then their stored objects), the stored images of
// deleted messages, and upload URLs past their expiry. It returns how many
// files it removed.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	now := s.cfg.Now()
	// A message that names the file (written by SQL, not attached by
	// sendMessage) keeps it.
	const unattached = `message_id IS NULL AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.image_file_id = f.id)`
	removed, err := s.removeInBatches(ctx, "remove expired files", `DELETE FROM files f WHERE id IN (
			SELECT id FROM files f WHERE expires_at < $1 AND `+unattached+` LIMIT $2 FOR UPDATE SKIP LOCKED)
		AND `+unattached+` RETURNING id, storage_key, thumb_key, original_key`, now)
	if err != nil {
		return removed, err
	}
	if _, err := s.cfg.Pool.Exec(ctx, `DELETE FROM upload_urls WHERE expires_at < $1`, now); err != nil {
		return removed, fmt.Errorf("remove expired upload urls: %w", err)
	}
	// The stored images of deleted messages go too; their files rows stay,
	// marked purged_at, as the message rows stay. A message written by SQL
	// may show the same file: while one that is not deleted does, the image
	// is still served.
	purged, err := s.removeInBatches(ctx, "purge images of deleted messages", `UPDATE files f SET purged_at = $1 WHERE id IN (
			SELECT f.id FROM messages m JOIN files f ON f.id = m.image_file_id
			WHERE m.is_deleted AND m.image_file_id IS NOT NULL AND f.purged_at IS NULL
				AND NOT EXISTS (SELECT 1 FROM messages k WHERE k.image_file_id = f.id AND NOT k.is_deleted)
			LIMIT $2 FOR UPDATE OF f SKIP LOCKED)
		RETURNING id, storage_key, thumb_key, original_key`, now)
	return removed + purged, err
}

// sweepBatch bounds the files one statement of a sweep takes.
const sweepBatch = 200

// removeInBatches runs query (parameters: now, sweepBatch; it returns the
// files it took: id, storage_key, thumb_key, original_key) until it takes
// fewer than a batch, and deletes the stored objects of every file it
// returned. A failed delete is logged: the row has changed, so the object
// is an orphan now. It returns how many files it took.
func (s *Service) removeInBatches(ctx context.Context, what, query string, now time.Time) (int, error) {
	total := 0
	for {
		rows, err := s.cfg.Pool.Query(ctx, query, now, sweepBatch)
		if err != nil {
			return total, fmt.Errorf("%s: %w", what, err)
		}
		var (
			id, image       string
			thumb, original *string
			n               int
			objects         [][2]string // file id, key
		)
		_, err = pgx.ForEachRow(rows, []any{&id, &image, &thumb, &original}, func() error {
			n++
			for _, k := range []*string{&image, thumb, original} {
				if k != nil {
					objects = append(objects, [2]string{id, *k})
				}
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("%s: %w", what, err)
		}
		for _, o := range objects {
			if err := s.cfg.Store.Delete(ctx, o[1]); err != nil {
				s.log.Warn(what, slog.String(logFile, o[0]), slog.String(logKey, o[1]), slog.Any(logError, err))
			}
		}
		total += n
		s.m.removed.Add(float64(n))
		if n < sweepBatch {
			return total, nil
		}
	}
}

// Run sweeps every SweepInterval until ctx is done, then returns nil.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		if n, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("media sweep", slog.Any(logError, err))
		} else if n > 0 {
			s.log.Info("removed unattached uploads and images of deleted messages", slog.Int("files", n))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
