package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parley-chat/parley/internal/server"
	"github.com/parley-chat/parley/media"
)

// mediaKeyFile holds the URL signing key in `parley dev`'s data directory,
// and in serve's media directory when no key is given.
const mediaKeyFile = "media-key"

// mediaOptions are the media flags of dev and serve.
type mediaOptions struct {
	dir       string
	key       string // serve only: hex or text, at least 32 bytes
	publicURL string
	format    string
	cfg       media.Config
}

// mediaFlags declares the media flags on fl. serve adds the flags that
// come from the environment in production.
func mediaFlags(fl *flag.FlagSet, serve bool) *mediaOptions {
	o := &mediaOptions{}
	if serve {
		fl.StringVar(&o.dir, "media-dir", envOr("PARLEY_MEDIA_DIR", "parley-media"),
			"directory of uploaded images (env PARLEY_MEDIA_DIR); every node must share it")
		fl.StringVar(&o.key, "media-key", os.Getenv("PARLEY_MEDIA_KEY"),
			"key signing image URLs, at least 32 bytes or 64 hex digits (env PARLEY_MEDIA_KEY); "+
				"empty: a key kept in MEDIA-DIR/"+mediaKeyFile)
		fl.StringVar(&o.publicURL, "public-url", os.Getenv("PARLEY_PUBLIC_URL"),
			"the server's public URL, http(s)://host[:port], that upload and image URLs start with (env PARLEY_PUBLIC_URL); "+
				"empty: http:// and the listen address")
	} else {
		fl.StringVar(&o.dir, "media-dir", "", "directory of uploaded images (default DATA/media)")
	}
	fl.StringVar(&o.format, "media-format", "webp", "what images are stored as: webp or jpeg")
	fl.IntVar(&o.cfg.Quality, "media-quality", 80, "encoder quality of stored images, 1-100")
	fl.IntVar(&o.cfg.MaxEdge, "media-max-edge", 1600, "longest edge of a stored image, in pixels")
	fl.BoolVar(&o.cfg.KeepOriginals, "media-keep-originals", false, "also store uploads as sent (never served)")
	fl.DurationVar(&o.cfg.UnattachedTTL, "media-unattached-ttl", time.Hour, "how long an upload may stay unattached to a message before it is removed")
	fl.IntVar(&o.cfg.Workers, "media-workers", 0, "images processed at once (0: min(2, CPUs))")
	return o
}

// apply puts the media options into cfg. dataDir is `parley dev`'s data
// directory ("" for serve).
func (o *mediaOptions) apply(cfg *server.Config, dataDir string) error {
	switch strings.ToLower(o.format) {
	case "webp":
		o.cfg.Format = media.WebP
	case "jpeg", "jpg":
		o.cfg.Format = media.JPEG
	default:
		return fmt.Errorf("--media-format must be webp or jpeg, got %q", o.format)
	}
	dir := o.dir
	if dir == "" && dataDir != "" {
		dir = filepath.Join(dataDir, "media")
	}
	if dir == "" {
		return errors.New("--media-dir is required")
	}
	keyDir := dataDir
	if keyDir == "" {
		keyDir = dir
	}
	key, err := mediaKey(o.key, keyDir)
	if err != nil {
		return err
	}
	o.cfg.Key = key
	o.cfg.BaseURL = strings.TrimRight(o.publicURL, "/")
	cfg.MediaDir, cfg.Media = dir, o.cfg
	return nil
}

// mediaKey decodes a given media key (64+ hex digits, else its bytes), or
// reads the key kept in dir, creating it once.
func mediaKey(given, dir string) ([]byte, error) {
	return secretKey(given, dir, mediaKeyFile, "--media-key")
}

// secretKey decodes a given key (64+ hex digits, else its bytes; flag
// names it in errors), or reads the key kept in dir/file, creating it
// once.
func secretKey(given, dir, file, flag string) ([]byte, error) {
	if given != "" {
		key := []byte(given)
		if b, err := hex.DecodeString(given); err == nil {
			key = b
		}
		if len(key) < media.MinKeyLen {
			return nil, fmt.Errorf("%s must have at least %d bytes", flag, media.MinKeyLen)
		}
		return key, nil
	}
	path := filepath.Join(dir, file)
	b, err := os.ReadFile(path)
	if err == nil {
		key, derr := hex.DecodeString(strings.TrimSpace(string(b)))
		if derr != nil || len(key) < media.MinKeyLen {
			return nil, fmt.Errorf("key %s: not %d hex-encoded bytes", path, media.MinKeyLen)
		}
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read key %s: %w", path, err)
	}
	key := make([]byte, media.MinKeyLen)
	rand.Read(key)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	// Written aside and linked into place: two nodes starting together
	// over a shared directory end up with the same key.
	tmp, err := os.CreateTemp(dir, "."+file+"-*")
	if err != nil {
		return nil, fmt.Errorf("write key %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(hex.EncodeToString(key) + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o600)
	}
	if err != nil {
		return nil, fmt.Errorf("write key %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		return secretKey("", dir, file, flag)
	} else if err != nil {
		return nil, fmt.Errorf("write key %s: %w", path, err)
	}
	return key, nil
}
