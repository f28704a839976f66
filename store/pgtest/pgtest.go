//go:build linux

package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

var (
	mu      sync.Mutex
	srv     *server
	srvErr  error
	started bool
	dbs     atomic.Uint64
)

// server is a running postgres.
type server struct {
	dir    string // the temporary directory: data/ and the socket
	port   int
	cmd    *exec.Cmd
	exited chan struct{} // closed when postgres exited
	log    *os.File
}

// Main runs the tests of m and stops the server, if one was started,
// before it returns m's exit code.
func Main(m *testing.M) int {
	code := m.Run()
	if err := stop(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// NewDatabase returns the URL of a new, empty database on the test
// binary's server, starting the server first if need be; the database is
// dropped when the test ends (after the test's own cleanups registered
// later, such as closing a store). It skips t if the server binaries are
// missing, and fails it if the server does not start.
func NewDatabase(t testing.TB) string {
	t.Helper()
	s, err := get()
	if errors.Is(err, ErrNoServer) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("t%d", dbs.Add(1))
	if err := s.exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		if err := s.exec("DROP DATABASE " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database: %v", err)
		}
	})
	return s.url(name)
}

// Available reports whether the server binaries are installed (without
// starting a server).
func Available() bool {
	_, _, err := binaries()
	return err == nil
}

// SetFsync turns the server's fsync on or off (it starts off), for
// benchmarks that measure durable commits. It skips t if the binaries are
// missing.
func SetFsync(t testing.TB, on bool) {
	t.Helper()
	s, err := get()
	if errors.Is(err, ErrNoServer) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	v := "off"
	if on {
		v = "on"
	}
	if err := s.exec("ALTER SYSTEM SET fsync = " + v); err != nil {
		t.Fatal(err)
	}
	if err := s.exec("SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}
}

func get() (*server, error) {
	mu.Lock()
	defer mu.Unlock()
	if !started {
		started = true
		srv, srvErr = start()
	}
	return srv, srvErr
}

func stop() error {
	mu.Lock()
	defer mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.stop()
	srv = nil
	return err
}

// binaries finds initdb and postgres: the newest version under
// /usr/lib/postgresql, else PATH.
func binaries() (initdb, postgres string, err error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		i, p := filepath.Join(d, "initdb"), filepath.Join(d, "postgres")
		if isExec(i) && isExec(p) {
			return i, p, nil
		}
	}
	i, err1 := exec.LookPath("initdb")
	p, err2 := exec.LookPath("postgres")
	if err1 != nil || err2 != nil {
		return "", "", ErrNoServer
	}
	return i, p, nil
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode()&0o111 != 0
}

// credential returns who runs the server: the postgres user as root, else
// nil (this process's user).
func credential() (*syscall.Credential, error) {
	if os.Getuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root, and PostgreSQL refuses root: %w (Debian's postgresql package creates the postgres user)", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("pgtest: postgres user: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func start() (*server, error) {
	initdb, postgres, err := binaries()
	if err != nil {
		return nil, err
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	removeStale()
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &server{dir: dir, exited: make(chan struct{})}
	fail := func(err error) (*server, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fail(err)
		}
	}
	data := filepath.Join(dir, "data")
	out, err := command(cred, initdb, "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C").CombinedOutput()
	if err != nil {
		return fail(fmt.Errorf("pgtest: initdb: %v\n%s", err, out))
	}
	if s.port, err = freePort(); err != nil {
		return fail(err)
	}
	s.log, err = os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return fail(err)
	}
	s.cmd = command(cred, postgres, "-D", data, "-k", dir, "-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300", "-c", "shared_buffers=64MB", "-c", "max_pred_locks_per_transaction=256")
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	// Stop the server if this process dies without stopping it: the
	// signal is sent when the thread that started it ends, so the thread
	// is locked to a goroutine that lives as long as postgres.
	s.cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	startErr := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := s.cmd.Start(); err != nil {
			startErr <- err
			close(s.exited)
			return
		}
		startErr <- nil
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	if err := <-startErr; err != nil {
		s.log.Close()
		return fail(fmt.Errorf("pgtest: start postgres: %w", err))
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := s.exec("SELECT 1")
		if err == nil {
			return s, nil
		}
		select {
		case <-s.exited:
			logText, _ := os.ReadFile(s.log.Name())
			s.log.Close()
			return fail(fmt.Errorf("pgtest: postgres exited: %s", logText))
		default:
		}
		if time.Now().After(deadline) {
			_ = s.stop()
			return nil, fmt.Errorf("pgtest: postgres did not accept connections in 60s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ownerFile holds the pid of the test binary that made a server's
// directory.
const ownerFile = "owner.pid"

// removeStale removes the directories of servers whose test binary died
// (killed: Main did not run to the end; the kernel stopped the server).
func removeStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "pgtest-*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, ownerFile))
		if err != nil {
			continue // being made, or not ours
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || syscall.Kill(pid, 0) == nil || !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			continue // alive (or unknown)
		}
		_ = os.RemoveAll(d)
	}
}

// command runs name as cred's user (nil: this process's).
func command(cred *syscall.Credential, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Dir = "/"
	return cmd
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// url is the URL of database name, over the unix socket.
func (s *server) url(name string) string {
	return fmt.Sprintf("postgres://postgres@/%s?host=%s&port=%d&sslmode=disable", name, s.dir, s.port)
}

// exec runs one statement in the postgres database.
func (s *server) exec(sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.url("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// stop shuts postgres down (fast: open sessions are ended) and removes
// its directory.
func (s *server) stop() error {
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	var err error
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		err = errors.New("postgres did not stop in 30s; killed it")
	}
	s.log.Close()
	if rerr := os.RemoveAll(s.dir); rerr != nil && !strings.Contains(rerr.Error(), "no such file") {
		err = errors.Join(err, rerr)
	}
	return err
}

// Server is a temporary PostgreSQL server like the tests', for tools that
// measure the store (scripts/bench --store postgres): unlike the tests'
// server it commits durably (fsync and full page writes on), as a
// production server does.
type Server struct{ s *server }

// StartServer starts a server in a temporary directory. It fails with
// ErrNoServer if the binaries are missing.
func StartServer() (*Server, error) {
	s, err := start()
	if err != nil {
		return nil, err
	}
	for _, sql := range []string{"ALTER SYSTEM SET fsync = on", "ALTER SYSTEM SET full_page_writes = on", "SELECT pg_reload_conf()"} {
		if err := s.exec(sql); err != nil {
			return nil, errors.Join(err, s.stop())
		}
	}
	return &Server{s}, nil
}

// Database creates database name (letters, digits and _) and returns its
// URL.
func (s *Server) Database(name string) (string, error) {
	for _, r := range name {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return "", fmt.Errorf("pgtest: database name %q: want lower-case letters, digits and _", name)
		}
	}
	if err := s.s.exec("CREATE DATABASE " + name); err != nil {
		return "", err
	}
	return s.s.url(name), nil
}

// Stop stops the server and removes its directory.
func (s *Server) Stop() error { return s.s.stop() }

// CPU returns the CPU time the server has used so far, for tools that
// measure it.
func (s *Server) CPU() time.Duration { return s.s.cpu() }

// CPU returns the CPU time the test binary's server has used so far (0
// if none runs), for benchmarks that report it.
func CPU() time.Duration {
	mu.Lock()
	s := srv
	mu.Unlock()
	if s == nil {
		return 0
	}
	return s.cpu()
}

// cpu is the CPU time of the postmaster, its live backends, and those
// that exited (which the postmaster reaped), from /proc.
func (s *server) cpu() time.Duration {
	pm := strconv.Itoa(s.cmd.Process.Pid)
	stat := func(pid string) []string {
		raw, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			return nil
		}
		return strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	}
	ticks := func(f []string, from, to int) int64 {
		var t int64
		for i := from; i <= to && i < len(f); i++ {
			v, _ := strconv.ParseInt(f[i], 10, 64)
			t += v
		}
		return t
	}
	total := ticks(stat(pm), 11, 14) // utime, stime, cutime, cstime
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		if f := stat(p.Name()); len(f) > 12 && f[1] == pm { // ppid
			total += ticks(f, 11, 12)
		}
	}
	return time.Duration(total) * time.Second / 100 // USER_HZ
}
