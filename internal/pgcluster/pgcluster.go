package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Errors returned by Start. Other errors are wrapped with the operation that
// failed.
var (
	// ErrBinariesNotFound means initdb and pg_ctl were found neither in
	// Config.BinDir nor (when BinDir is empty) on PATH or in
	// /usr/lib/postgresql/*/bin.
	ErrBinariesNotFound = errors.New("pgcluster: PostgreSQL server binaries not found (install them: apt-get install -y postgresql)")
	// ErrNoPostgresUser means the process runs as root and there is no
	// "postgres" system user to run the server as.
	ErrNoPostgresUser = errors.New(`pgcluster: running as root needs the "postgres" system user to run the server as (it comes with the Debian package: apt-get install -y postgresql)`)
	// ErrAlreadyRunning means a live postmaster already serves the data
	// directory.
	ErrAlreadyRunning = errors.New("pgcluster: a server is already running in the data directory")
)

// Log attribute keys.
const (
	logKeyDir    = "dir"
	logKeyPort   = "port"
	logKeyBinDir = "bin_dir"
	logKeyPID    = "pid"
	logKeyOwner  = "owner_pid"
)

const (
	logFileName = "postgres.log"
	pidFileName = "postmaster.pid"
	// ownerFileName names, in the data directory, the process that started
	// the running postmaster through this package (see owner).
	ownerFileName = "parley-owner"
	// logTailBytes bounds how much of postgres.log an error carries.
	logTailBytes = 4096
	// startAttempts bounds retries when a picked free port was taken by
	// someone else before the server bound it.
	startAttempts = 3
	// maxSocketPath is the longest Unix socket path the kernel accepts
	// (sizeof(sun_path) minus the terminating NUL).
	maxSocketPath = 107
	// superuser is the role initdb creates.
	superuser = "postgres"
	// systemUser is the account the server runs as when we are root.
	systemUser = "postgres"
)

// Config configures Start.
type Config struct {
	// Dir is the data directory (PGDATA itself). Required. It is created if
	// missing and initialised if it has no PG_VERSION file. A relative path
	// is made absolute.
	Dir string
	// Port is the TCP port on 127.0.0.1. Zero means a free port picked at
	// start.
	Port int
	// BinDir holds initdb, pg_ctl and postgres. Zero means: the directory of
	// initdb found on PATH, else the newest /usr/lib/postgresql/*/bin.
	BinDir string
	// Logger receives start and stop events. Nil means discard.
	Logger *slog.Logger
	// ExtraSettings are server settings (name → value) passed as -c
	// name=value; they override the package's defaults. Nil means none.
	ExtraSettings map[string]string
}

// Cluster is a running server started by Start. It is safe for concurrent
// use.
type Cluster struct {
	dir       string
	port      int
	socketDir string // where the Unix socket is; empty: TCP only
	binDir    string
	cred      *syscall.Credential // nil unless we run the binaries as systemUser
	logger    *slog.Logger
	pid       int // the postmaster this Cluster started

	mu      sync.Mutex
	stopped bool
}

// Start initialises cfg.Dir if needed and starts a server in it, waiting
// until it accepts connections. See the package documentation for what it
// does when run as root.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.Dir == "" {
		return nil, errors.New("pgcluster: Config.Dir is required")
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("pgcluster: Config.Port %d out of range", cfg.Port)
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	binDir, err := findBinDir(cfg.BinDir, dir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, binDir: binDir, logger: logger}

	if os.Geteuid() == 0 {
		if err := c.prepareForSystemUser(); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}

	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); errors.Is(err, fs.ErrNotExist) {
		if err := c.initdb(ctx); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}

	if err := c.checkNotRunning(ctx); err != nil {
		return nil, err
	}

	for attempt := 1; ; attempt++ {
		port := cfg.Port
		if port == 0 {
			if port, err = freePort(); err != nil {
				return nil, err
			}
		}
		logTail, err := c.start(ctx, port, cfg.ExtraSettings)
		if err == nil {
			c.port = port
			c.pid = c.postmasterPID()
			if err := writeOwner(dir, c.pid); err != nil {
				c.killAfterFailedStart()
				return nil, err
			}
			logger.Info("postgres started", logKeyDir, dir, logKeyPort, port, logKeyBinDir, binDir, logKeyPID, c.pid)
			return c, nil
		}
		c.killAfterFailedStart()
		if cfg.Port == 0 && attempt < startAttempts && strings.Contains(logTail, "Address already in use") {
			continue
		}
		return nil, err
	}
}

// URL returns the connection URL of database db as the superuser, over TCP.
func (c *Cluster) URL(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(superuser),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// SocketURL returns the connection URL of database db as the superuser
// over the server's Unix socket, and false when it listens on TCP only
// (its directory's path is too long for a socket). On one host a Unix
// socket costs both ends less per round trip than loopback TCP, whose
// delivery to the receiver is charged to the sender's write.
func (c *Cluster) SocketURL(db string) (string, bool) {
	if c.socketDir == "" {
		return "", false
	}
	q := url.Values{"host": {c.socketDir}, "port": {strconv.Itoa(c.port)}, "sslmode": {"disable"}}
	// Encode writes a space as "+", which libpq and pgx read as a plus
	// sign; "%20" is a space to both (a literal "+" is already "%2B").
	raw := strings.ReplaceAll(q.Encode(), "+", "%20")
	u := url.URL{Scheme: "postgres", User: url.User(superuser), Path: "/" + db, RawQuery: raw}
	return u.String(), true
}

// Port returns the TCP port the server listens on.
func (c *Cluster) Port() int { return c.port }

// Stop shuts the server down (pg_ctl stop -m fast -w). Calling it again, or
// on a server that is no longer running, returns nil; it never stops a
// server that a later Start call started in the same directory.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	if pid := c.postmasterPID(); pid == 0 || pid != c.pid {
		c.stopped = true
		return nil
	}
	if err := c.stopServer(ctx); err != nil {
		return err
	}
	c.stopped = true
	c.logger.Info("postgres stopped", logKeyDir, c.dir, logKeyPort, c.port)
	return nil
}

func (c *Cluster) initdb(ctx context.Context) error {
	c.logger.Info("initdb", logKeyDir, c.dir, logKeyBinDir, c.binDir)
	out, err := c.command(ctx, "initdb",
		"-D", c.dir, "-A", "trust", "-U", superuser, "-E", "UTF8", "--no-locale", "--no-sync",
	).CombinedOutput()
	if err != nil {
		return fmt.Errorf("initdb: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// start runs pg_ctl start once. On failure it also returns the part of the
// server log written during this attempt.
func (c *Cluster) start(ctx context.Context, port int, extra map[string]string) (string, error) {
	logPath := filepath.Join(c.dir, logFileName)
	var logOffset int64
	if st, err := os.Stat(logPath); err == nil {
		logOffset = st.Size()
	}
	out, err := c.command(ctx, "pg_ctl", "start", "-w", "-t", "120",
		"-D", c.dir, "-l", logPath, "-o", c.serverOptions(port, extra),
	).CombinedOutput()
	if err == nil {
		return "", nil
	}
	tail := readTail(logPath, logOffset)
	return tail, fmt.Errorf("pg_ctl start: %w: %s\n--- tail of %s ---\n%s",
		err, strings.TrimSpace(string(out)), logPath, tail)
}

// serverOptions renders the postgres command-line settings for pg_ctl -o,
// which hands them to /bin/sh; every word is single-quoted.
func (c *Cluster) serverOptions(port int, extra map[string]string) string {
	socketDir := c.dir
	if len(socketDir)+len("/.s.PGSQL.65535") > maxSocketPath {
		c.logger.Warn("data dir path too long for a Unix socket; listening on TCP only", logKeyDir, c.dir)
		socketDir = ""
	}
	settings := map[string]string{
		"port":                    strconv.Itoa(port),
		"listen_addresses":        "127.0.0.1",
		"unix_socket_directories": socketDir,
		"wal_level":               "logical",
		"fsync":                   "off",
		"full_page_writes":        "off",
		"max_wal_senders":         "40",
		"max_replication_slots":   "40",
		"max_connections":         "200",
		// A permanent slot of a server that died keeps WAL only this far.
		"max_slot_wal_keep_size": "1GB",
	}
	maps.Copy(settings, extra)
	c.socketDir = socketDir
	if _, ok := extra["unix_socket_directories"]; ok {
		c.socketDir = "" // the caller's choice, maybe a list: SocketURL does not guess
	}
	words := make([]string, 0, 2*len(settings))
	for _, name := range slices.Sorted(maps.Keys(settings)) {
		words = append(words, "-c", shellQuote(name+"="+settings[name]))
	}
	return strings.Join(words, " ")
}

// killAfterFailedStart stops a postmaster that pg_ctl may have left running
// (for example when it timed out waiting for it). Only called after
// checkNotRunning, so any server in the directory is ours.
func (c *Cluster) killAfterFailedStart() {
	if c.postmasterPID() == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = c.command(ctx, "pg_ctl", "stop", "-D", c.dir, "-m", "immediate", "-w").Run()
}

// checkNotRunning makes sure no server runs in the data directory before
// Start starts one. A postmaster.pid naming a process that is gone is left
// for the postmaster to replace; one naming a live process that is not a
// postmaster of this directory (the pid was reused after a crash) is
// removed. A postmaster of this directory that this package started for a
// process that has died since (a `parley dev` killed with SIGKILL, an OOM,
// a closed terminal: see owner) is an orphan: it is stopped, and Start
// starts the server afresh with its own settings. Any other live
// postmaster of the directory is ErrAlreadyRunning, with what to do.
func (c *Cluster) checkNotRunning(ctx context.Context) error {
	pid := c.postmasterPID()
	if pid == 0 {
		return nil
	}
	// When /proc cannot tell, the server may be running: assume it is.
	ours, err := IsPostmasterOf(pid, c.dir)
	if err == nil && !ours {
		pidPath := filepath.Join(c.dir, pidFileName)
		c.logger.Warn("removing stale postmaster.pid naming an unrelated process", logKeyDir, c.dir, logKeyPID, pid)
		if err := os.Remove(pidPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove stale %s: %w", pidFileName, err)
		}
		return nil
	}
	o, found := readOwner(c.dir)
	switch {
	case !found || o.postmaster != pid:
		return fmt.Errorf("data dir %s: %w (pid %d), not started by Parley: stop it (pg_ctl stop -D %s) or use another data directory",
			c.dir, ErrAlreadyRunning, pid, c.dir)
	case o.alive():
		return fmt.Errorf("data dir %s: %w (pid %d), started by process %d, which is still running: stop that process or use another data directory",
			c.dir, ErrAlreadyRunning, pid, o.pid)
	}
	c.logger.Warn("stopping the postgres an earlier process left running", logKeyDir, c.dir, logKeyPID, pid, logKeyOwner, o.pid)
	if err := c.stopServer(ctx); err != nil {
		return fmt.Errorf("stop the orphaned server: %w", err)
	}
	return nil
}

// stopServer stops the postmaster running in the data directory
// (pg_ctl stop -m fast -w) and removes the owner file.
func (c *Cluster) stopServer(ctx context.Context) error {
	out, err := c.command(ctx, "pg_ctl", "stop", "-D", c.dir, "-m", "fast", "-w").CombinedOutput()
	if err != nil && c.postmasterPID() > 0 {
		return fmt.Errorf("pg_ctl stop: %w: %s", err, strings.TrimSpace(string(out)))
	}
	if err := os.Remove(filepath.Join(c.dir, ownerFileName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", ownerFileName, err)
	}
	return nil
}

// postmasterPID returns the pid recorded in postmaster.pid if that process
// is alive, else 0.
func (c *Cluster) postmasterPID() int {
	data, err := os.ReadFile(filepath.Join(c.dir, pidFileName))
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 0 || !ProcessAlive(pid) {
		return 0
	}
	return pid
}

// prepareForSystemUser makes the data directory usable by systemUser and
// sets c.cred so that the binaries run as that user.
func (c *Cluster) prepareForSystemUser() error {
	u, err := user.Lookup(systemUser)
	if err != nil {
		var unknown user.UnknownUserError
		if errors.As(err, &unknown) {
			return ErrNoPostgresUser
		}
		return fmt.Errorf("look up user %s: %w", systemUser, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return fmt.Errorf("user %s: uid %q: %w", systemUser, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return fmt.Errorf("user %s: gid %q: %w", systemUser, u.Gid, err)
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if g, err := strconv.ParseUint(id, 10, 32); err == nil {
				cred.Groups = append(cred.Groups, uint32(g))
			}
		}
	}

	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	if err := chownTree(c.dir, int(cred.Uid), int(cred.Gid)); err != nil {
		return err
	}
	if err := makeParentsTraversable(c.dir, cred); err != nil {
		return err
	}
	c.cred = cred
	return nil
}

// chownTree gives every file under dir to uid:gid, skipping files that
// already belong to them.
func chownTree(dir string, uid, gid int) error {
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) == uid && int(st.Gid) == gid {
			return nil
		}
		return os.Lchown(path, uid, gid)
	})
	if err != nil {
		return fmt.Errorf("chown data dir: %w", err)
	}
	return nil
}

// makeParentsTraversable adds o+x to the parents of dir that cred cannot
// search, if they lie inside os.TempDir() or the working directory, and
// returns an error naming the first parent it may not change.
func makeParentsTraversable(dir string, cred *syscall.Credential) error {
	resolved, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	var roots []string
	for _, r := range []string{os.TempDir(), workingDir()} {
		if r == "" {
			continue
		}
		if rr, err := filepath.EvalSymlinks(r); err == nil {
			roots = append(roots, rr)
		}
	}
	for p := filepath.Dir(resolved); ; p = filepath.Dir(p) {
		info, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("data dir parent: %w", err)
		}
		if !canSearch(info, cred) {
			if !slices.ContainsFunc(roots, func(r string) bool { return within(p, r) }) {
				return fmt.Errorf("data dir %s: the %s user cannot reach it because %s lacks o+x; run chmod o+x %s or put the data dir under %s",
					dir, systemUser, p, p, os.TempDir())
			}
			if err := os.Chmod(p, info.Mode().Perm()|0o001); err != nil {
				return fmt.Errorf("make %s traversable: %w", p, err)
			}
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// canSearch reports whether cred may traverse the directory described by
// info, going by its mode bits.
func canSearch(info fs.FileInfo, cred *syscall.Credential) bool {
	perm := info.Mode().Perm()
	if perm&0o001 != 0 {
		return true
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	if st.Uid == cred.Uid {
		return perm&0o100 != 0
	}
	if st.Gid == cred.Gid || slices.Contains(cred.Groups, st.Gid) {
		return perm&0o010 != 0
	}
	return false
}

func workingDir() string {
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	return wd
}

// within reports whether p is root or lies below it.
func within(p, root string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// command builds an invocation of one of the server binaries. It runs in its
// own process group, which is killed when ctx ends (pg_ctl puts the
// postmaster in a session of its own, so the server is not in that group).
func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, name), args...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: c.cred}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// findBinDir returns the directory holding initdb, pg_ctl and postgres.
func findBinDir(binDir, dataDir string) (string, error) {
	if binDir != "" {
		if !hasServerBinaries(binDir) {
			return "", fmt.Errorf("bin dir %s: %w", binDir, ErrBinariesNotFound)
		}
		return binDir, nil
	}
	const debianRoot = "/usr/lib/postgresql"
	if v, err := os.ReadFile(filepath.Join(dataDir, "PG_VERSION")); err == nil {
		d := filepath.Join(debianRoot, strings.TrimSpace(string(v)), "bin")
		if hasServerBinaries(d) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if resolved, err := filepath.EvalSymlinks(p); err == nil {
			if d := filepath.Dir(resolved); hasServerBinaries(d) {
				return d, nil
			}
		}
		if d := filepath.Dir(p); hasServerBinaries(d) {
			return d, nil
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(debianRoot, "*", "bin"))
	slices.SortFunc(dirs, func(a, b string) int {
		return compareVersions(filepath.Base(filepath.Dir(b)), filepath.Base(filepath.Dir(a)))
	})
	for _, d := range dirs {
		if hasServerBinaries(d) {
			return d, nil
		}
	}
	return "", ErrBinariesNotFound
}

func hasServerBinaries(dir string) bool {
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil || info.IsDir() || info.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

// compareVersions compares dotted version strings numerically ("9.6" < "15").
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x - y
		}
	}
	return 0
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("pick free port: %w", err)
	}
	return port, nil
}

// ProcessAlive reports whether a process with this pid exists and is not a
// zombie (which a container's init may never reap). A process this one may
// not signal (EPERM) counts as alive. When /proc cannot be read, existence
// alone decides. A pid that is not positive names no single process (kill(2)
// reads 0 and -1 as groups) and is reported as not alive. It is safe for
// concurrent use.
func ProcessAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name, which may itself
	// contain ") ".
	_, rest, ok := strings.Cut(string(stat[bytes.LastIndexByte(stat, ')')+1:]), " ")
	return !ok || !strings.HasPrefix(rest, "Z")
}

// IsPostmasterOf reports whether pid is a postgres process working in the
// data directory dir (a postmaster's working directory is its data
// directory), from /proc. It returns an error when /proc cannot tell: no
// /proc, a process that is gone or another user's, a dir that does not
// resolve. It is safe for concurrent use.
func IsPostmasterOf(pid int, dir string) (bool, error) {
	proc := filepath.Join("/proc", strconv.Itoa(pid))
	comm, err := os.ReadFile(filepath.Join(proc, "comm"))
	if err != nil {
		return false, err
	}
	if strings.TrimSpace(string(comm)) != "postgres" {
		return false, nil
	}
	cwd, err := os.Readlink(filepath.Join(proc, "cwd"))
	if err != nil {
		return false, err
	}
	resolved, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return false, err
	}
	return cwd == resolved, nil
}

// readTail returns at most logTailBytes from the end of the file at path,
// starting no earlier than offset.
func readTail(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	if size := info.Size(); size < offset {
		offset = 0 // the log was truncated or replaced
	} else if size-offset > logTailBytes {
		offset = size - logTailBytes
	}
	b, err := io.ReadAll(io.NewSectionReader(f, offset, logTailBytes))
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	return strings.TrimSpace(string(b))
}

// shellQuote quotes s for /bin/sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
