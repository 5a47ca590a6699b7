package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/pkg/sftp"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/burrow-dev/burrow/internal/sshd"
)

// remotePath is "[USER@]TARGET:PATH".
type remotePath struct{ login, target, path string }

// parseRemote tells a remote argument from a local one the way scp does:
// a colon before any slash.
func parseRemote(arg string) (remotePath, bool) {
	i := strings.Index(arg, ":")
	if i <= 0 || strings.Contains(arg[:i], "/") {
		return remotePath{}, false
	}
	login, target := splitLogin(arg[:i])
	return remotePath{login: login, target: target, path: arg[i+1:]}, true
}

func newCpCmd(g *globals) *cobra.Command {
	var recursive, quiet, resume bool
	var login string
	cmd := &cobra.Command{
		Use:   "cp [-r] SOURCE... DEST",
		Short: "Copy files to or from a target (over SFTP)",
		Long: `Copy files between this machine and a target, like scp. A remote path is
[USER@]TARGET:PATH, relative to the login's home directory, which ~/
also names (TARGET may also be NAME.burrow, NAME.<org>.burrow or
NAME.<org>); remote sources may be patterns, expanded on the target
(quote them). Modes and modification times are kept, of folders too; -r
copies folders (a symbolic link to a file is copied as the file, as scp
does; one to a folder is skipped, with a note). A
progress bar is shown when standard error is a terminal. Ctrl-C exits 130
(SIGTERM 143); --resume then goes on.

With --resume, a copy that was cut off goes on where it stopped: a
destination file shorter than its source gets only the rest, provided it
was written after the source last changed and its last 64 KiB match the
source's bytes there (otherwise it is copied whole), and one that a
finished copy left (same size and modification time) is not copied
again.`,
		Example: `  burrow cp ./build.tgz web-1:/tmp/
  burrow cp -r web-1:/var/log/app ./logs
  burrow cp 'web-1:/var/log/*.log' ./logs/
  burrow cp root@web-1:/etc/hosts .
  burrow cp --resume ./big.iso web-1:/tmp/   # again, after an interruption`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			showProgress := !quiet && isTerminal(g.stderr)
			cp := &copier{recursive: recursive, progress: showProgress, resume: resume, stderr: g.stderr}
			err := runCp(cmd.Context(), g, cp, login, args[:len(args)-1], args[len(args)-1])
			if err != nil && cp.drawn != nil && !cp.drawn.IsFinished() {
				fmt.Fprintln(g.stderr) // end the bar's line before the message
			}
			if err != nil && cmd.Context().Err() != nil {
				// Interrupted (Ctrl-C, SIGTERM): the sftp errors that follow
				// the connection's close say nothing useful.
				fmt.Fprintf(g.stderr, "burrow: interrupted; the same burrow cp with --resume continues where it stopped\n")
				return exitError(interruptStatus(cmd.Context()))
			}
			return err
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&recursive, "recursive", "r", false, "copy folders and their contents")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress bar")
	f.BoolVar(&resume, "resume", false, "go on with files an earlier copy left shorter; skip those it finished")
	f.StringVarP(&login, "login", "l", "", "user to log in as (default: your local user name)")
	return cmd
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// copier copies between the local file system and one SFTP session.
type copier struct {
	sftp      *sftp.Client
	target    string // the remote side, for messages
	recursive bool
	progress  bool
	resume    bool
	stderr    io.Writer
	drawn     *progressbar.ProgressBar // the last bar, which may be unfinished
}

func runCp(ctx context.Context, g *globals, cp *copier, login string, srcs []string, dst string) error {
	dstRemote, upload := parseRemote(dst)
	var remote remotePath
	if upload {
		remote = dstRemote
	}
	for _, s := range srcs {
		r, isRemote := parseRemote(s)
		switch {
		case isRemote && upload:
			return fmt.Errorf("cannot copy from %s to %s: one side must be local", s, dst)
		case !isRemote && !upload:
			return fmt.Errorf("neither %s nor %s is remote (TARGET:PATH)", s, dst)
		case isRemote && remote.target != "" && (r.target != remote.target || r.login != remote.login):
			return fmt.Errorf("all sources must be on the same target")
		case isRemote:
			remote = r
		}
	}
	if login != "" {
		remote.login = login
	}
	if remote.login == "" {
		remote.login = defaultLogin()
	}
	c, err := newClient()
	if err != nil {
		return err
	}
	defer c.Close()
	sc, err := dialSSH(ctx, c, remote.target, remote.login, g.stderr)
	if err != nil {
		return err
	}
	defer sc.Close()
	opts := []sftp.ClientOption{sftp.UseConcurrentWrites(true), sftp.UseConcurrentReads(true), sftp.MaxConcurrentRequestsPerFile(64)}
	if string(sc.ServerVersion()) == sshd.ServerVersion {
		// burrow's own server takes what OpenSSH's does: 8 times fewer
		// requests than the 32 KiB every SFTP server must take.
		opts = append(opts, sftp.MaxPacketUnchecked(sshd.MaxSFTPData))
	}
	client, err := sftp.NewClient(sc, opts...)
	if err != nil {
		return fmt.Errorf("sftp on %s: %w", remote.target, err)
	}
	defer client.Close()
	cp.sftp, cp.target = client, remote.target
	stop := context.AfterFunc(ctx, func() { client.Close() })
	defer stop()
	if upload {
		for _, s := range srcs {
			if err := cp.upload(s, remotePathOf(dstRemote.path), len(srcs) > 1); err != nil {
				return err
			}
		}
		return nil
	}
	// Remote sources may be patterns, as with scp: the shell here cannot
	// expand them, the server's file system does.
	var paths []string
	for _, s := range srcs {
		r, _ := parseRemote(s)
		p := remotePathOf(r.path)
		if !strings.ContainsAny(p, "*?[") {
			paths = append(paths, p)
			continue
		}
		matches, err := client.Glob(p)
		if err != nil {
			return fmt.Errorf("%s:%s: %w", remote.target, p, err)
		}
		if len(matches) == 0 {
			return fmt.Errorf("%s:%s: no such file (nothing matches)", remote.target, p)
		}
		paths = append(paths, matches...)
	}
	for _, p := range paths {
		if err := cp.download(p, dst, len(paths) > 1); err != nil {
			return err
		}
	}
	return nil
}

// remotePathOf maps "" and "~" (the home directory, as with scp) to "."
// and "~/P" to P, which the server reads from the home directory.
func remotePathOf(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		p = rest
	}
	if p == "" || p == "~" {
		return "."
	}
	return p
}

// upload copies local src to remote dst. dst names the copy, unless it
// is an existing directory (or several sources were given): then the copy
// goes inside it.
func (c *copier) upload(src, dst string, intoDir bool) error {
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	if rst, err := c.sftp.Stat(dst); err == nil && rst.IsDir() || intoDir || strings.HasSuffix(dst, "/") {
		dst = path.Join(dst, filepath.Base(src))
	}
	if !st.IsDir() {
		return c.putFile(src, dst, st)
	}
	if !c.recursive {
		return fmt.Errorf("%s is a directory (use -r)", src)
	}
	// Folder modes and times are set last, deepest first: a read-only
	// folder must still be writable while its contents are copied into it,
	// and each copy into a folder changes its time.
	var dirs []dirMode
	defer func() {
		for i := len(dirs) - 1; i >= 0; i-- {
			c.sftp.Chmod(dirs[i].path, dirs[i].mode)
			c.sftp.Chtimes(dirs[i].path, dirs[i].mtime, dirs[i].mtime)
		}
	}()
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := path.Join(dst, filepath.ToSlash(rel))
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := c.sftp.MkdirAll(target); err != nil {
				return fmt.Errorf("create %s: %w", target, err)
			}
			dirs = append(dirs, dirMode{target, info.Mode().Perm(), info.ModTime()})
			return nil
		case info.Mode().IsRegular():
			return c.putFile(p, target, info)
		case info.Mode()&fs.ModeSymlink != 0:
			// As on the way down: a link to a file is copied as the file.
			fi, err := os.Stat(p)
			if err == nil && fi.Mode().IsRegular() {
				return c.putFile(p, target, fi)
			}
			fmt.Fprintf(c.stderr, "burrow: skipping %s (%s)\n", p, linkKind(err))
			return nil
		default:
			fmt.Fprintf(c.stderr, "burrow: skipping %s (not a regular file)\n", p)
			return nil
		}
	})
}

func (c *copier) putFile(src, dst string, st fs.FileInfo) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	from, flags, err := c.startAt(src, in, st, dst, c.remoteSide())
	if err != nil {
		return err
	}
	if from < st.Size() || st.Size() == 0 {
		out, err := c.sftp.OpenFile(dst, flags)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("create %s:%s: there is no directory %s on %s", c.target, dst, path.Dir(dst), c.target)
		}
		if err != nil {
			return fmt.Errorf("create %s:%s: %w", c.target, dst, err)
		}
		if from > 0 { // a pipe cannot seek, nor need it
			if _, err := out.Seek(from, io.SeekStart); err != nil {
				out.Close()
				return fmt.Errorf("write %s: %w", dst, err)
			}
			if _, err := in.Seek(from, io.SeekStart); err != nil {
				out.Close()
				return err
			}
		}
		if _, err := out.ReadFrom(c.meter(in, st.Size(), from, filepath.Base(src))); err != nil {
			out.Close()
			return fmt.Errorf("write %s: %w", dst, err)
		}
		if err := out.Close(); err != nil {
			return fmt.Errorf("write %s: %w", dst, err)
		}
	}
	if err := c.sftp.Chmod(dst, st.Mode().Perm()); err != nil {
		return fmt.Errorf("chmod %s: %w", dst, err)
	}
	return c.sftp.Chtimes(dst, st.ModTime(), st.ModTime())
}

// linkKind says why a symbolic link that cp -r does not follow is
// skipped, from the error of following it.
func linkKind(statErr error) string {
	if statErr != nil {
		return "a broken link"
	}
	return "a link to a folder, not followed"
}

// dirMode is a folder's mode and modification time, applied once the copy
// into it is done.
type dirMode struct {
	path  string
	mode  fs.FileMode
	mtime time.Time
}

// download copies remote src to local dst, with upload's naming rules.
func (c *copier) download(src, dst string, intoDir bool) error {
	st, err := c.sftp.Stat(src)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	lst, err := os.Stat(filepath.Clean(dst)) // "file/" would say ENOTDIR
	dirWanted := strings.HasSuffix(dst, string(filepath.Separator)) || intoDir
	switch {
	case err == nil && lst.IsDir():
		dst = filepath.Join(dst, path.Base(src))
	case err == nil && dirWanted:
		return fmt.Errorf("%s: not a directory", dst)
	case errors.Is(err, fs.ErrNotExist) && dirWanted:
		return fmt.Errorf("%s: no such directory", strings.TrimSuffix(dst, string(filepath.Separator))+string(filepath.Separator))
	}
	if !st.IsDir() {
		return c.getFile(src, dst, st)
	}
	if !c.recursive {
		return fmt.Errorf("%s is a directory (use -r)", src)
	}
	var dirs []dirMode
	defer func() {
		for i := len(dirs) - 1; i >= 0; i-- {
			os.Chmod(dirs[i].path, dirs[i].mode)
			os.Chtimes(dirs[i].path, dirs[i].mtime, dirs[i].mtime)
		}
	}()
	walker := c.sftp.Walk(src)
	for walker.Step() {
		if err := walker.Err(); err != nil {
			return err
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(walker.Path(), src), "/")
		target := filepath.Join(dst, filepath.FromSlash(rel))
		info := walker.Stat()
		switch {
		case info.IsDir():
			if err := os.MkdirAll(target, 0o700); err != nil {
				return err
			}
			dirs = append(dirs, dirMode{target, info.Mode().Perm(), info.ModTime()})
		case info.Mode().IsRegular():
			if err := c.getFile(walker.Path(), target, info); err != nil {
				return err
			}
		case info.Mode()&fs.ModeSymlink != 0:
			// A link to a file is copied as the file, as scp -r does; a
			// link to a folder is not followed (it may loop).
			fi, err := c.sftp.Stat(walker.Path())
			if err == nil && fi.Mode().IsRegular() {
				if err := c.getFile(walker.Path(), target, fi); err != nil {
					return err
				}
				continue
			}
			fmt.Fprintf(c.stderr, "burrow: skipping %s (%s)\n", walker.Path(), linkKind(err))
		default:
			fmt.Fprintf(c.stderr, "burrow: skipping %s (not a regular file)\n", walker.Path())
		}
	}
	return nil
}

func (c *copier) getFile(src, dst string, st fs.FileInfo) error {
	in, err := c.sftp.Open(src)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	defer in.Close()
	from, flags, err := c.startAt(src, in, st, dst, localSide)
	if err != nil {
		return err
	}
	if from < st.Size() || st.Size() == 0 {
		out, err := os.OpenFile(dst, flags, st.Mode().Perm()|0o200)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("create %s: there is no directory %s", dst, filepath.Dir(dst))
		}
		if err != nil {
			return err
		}
		if from > 0 { // a pipe cannot seek, nor need it
			if _, err := out.Seek(from, io.SeekStart); err != nil {
				out.Close()
				return err
			}
			if _, err := in.Seek(from, io.SeekStart); err != nil {
				out.Close()
				return fmt.Errorf("read %s: %w", src, err)
			}
		}
		n, err := in.WriteTo(c.meterWriter(out, st.Size(), from, path.Base(src)))
		if err == nil && st.Mode().IsRegular() {
			err = shortRead(in, st.Size(), from+n)
		}
		if err != nil {
			out.Close()
			return fmt.Errorf("read %s: %w", src, err)
		}
		if err := out.Close(); err != nil {
			return err
		}
	}
	if err := os.Chmod(dst, st.Mode().Perm()); err != nil {
		return err
	}
	return os.Chtimes(dst, st.ModTime(), st.ModTime())
}

// shortRead reports an error when a download of a regular file held size
// bytes when it was opened and got fewer, got, unless the file holds
// exactly that many now (it was truncated or rewritten meanwhile). A file
// that grew meanwhile (a log being written) arrives as far as it had grown,
// as with scp; so does one that stats as empty but is not (/proc).
func shortRead(f *sftp.File, size, got int64) error {
	if got >= size {
		return nil
	}
	if now, err := f.Stat(); err == nil && now.Size() == got {
		return nil
	}
	return fmt.Errorf("got %d bytes of %d", got, size)
}

// meter wraps r, which holds what is left of a file of size after from,
// with a progress bar when one is wanted. Its Size is what is left, which
// lets sftp's ReadFrom write with concurrent requests.
func (c *copier) meter(r io.Reader, size, from int64, name string) io.Reader {
	if !c.progress || size <= 0 { // no bar for an empty file (or a pipe)
		return &sizedReader{r, size - from}
	}
	bar := c.bar(size, name)
	bar.Add64(from)
	return &barReader{r: r, bar: bar, size: size - from}
}

func (c *copier) meterWriter(w io.Writer, size, from int64, name string) io.Writer {
	if !c.progress || size <= 0 { // no bar for what stats as empty (/proc)
		return w
	}
	bar := c.bar(size, name)
	bar.Add64(from)
	return barWriter{w, bar}
}

// barWriter writes to w and counts on bar. The bar's own errors (a file
// that grew past its size, or stats as empty) do not stop the copy.
type barWriter struct {
	w   io.Writer
	bar *progressbar.ProgressBar
}

func (b barWriter) Write(p []byte) (int, error) {
	n, err := b.w.Write(p)
	// Up to the bar's end, where it finishes its line; a file that grew
	// goes on past it silently.
	if left := b.bar.GetMax64() - b.bar.State().CurrentNum; n > 0 && left > 0 {
		b.bar.Add64(min(int64(n), left))
	}
	return n, err
}

// sizedReader is a reader with the Size sftp's ReadFrom looks for.
type sizedReader struct {
	io.Reader
	size int64
}

func (s *sizedReader) Size() int64 { return s.size }

// side is the file system of a copy's destination, as --resume reads it.
type side struct {
	stat func(string) (fs.FileInfo, error)
	open func(string) (readAtCloser, error)
}

type readAtCloser interface {
	io.ReaderAt
	io.Closer
}

var localSide = side{os.Lstat, func(p string) (readAtCloser, error) { return os.Open(p) }}

func (c *copier) remoteSide() side {
	return side{c.sftp.Lstat, func(p string) (readAtCloser, error) { return c.sftp.Open(p) }}
}

// startAt says where the copy of src (st, open as in) onto dst starts,
// and the flags to open dst with: all of it, truncated, unless --resume
// finds more (resumeAt).
func (c *copier) startAt(src string, in io.ReaderAt, st fs.FileInfo, dst string, to side) (int64, int, error) {
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if !c.resume {
		return 0, flags, nil
	}
	from, err := c.resumeAt(src, in, st, dst, to)
	if from > 0 {
		flags &^= os.O_TRUNC
	}
	return from, flags, err
}

// resumeCheck is how much of the destination's end --resume compares
// with the source before it appends the rest.
const resumeCheck = 64 << 10

// resumeAt says where a copy of src (st, open as in) onto dst starts with
// --resume: st.Size() when an earlier copy finished (same size and
// modification time, which only a finished copy sets: nothing to do);
// dst's size when dst is shorter, was written after src last changed (a
// cut-off copy of this version of src), and its last resumeCheck bytes
// are src's bytes there; else 0 (all of it).
func (c *copier) resumeAt(src string, in io.ReaderAt, st fs.FileInfo, dst string, to side) (int64, error) {
	dt, err := to.stat(dst)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("%s: %w", dst, err)
	case !dt.Mode().IsRegular():
		return 0, nil
	case dt.Size() == st.Size() && dt.ModTime().Unix() == st.ModTime().Unix():
		return st.Size(), nil
	case dt.Size() == 0 || dt.Size() >= st.Size():
		return 0, nil
	case dt.ModTime().Unix() < st.ModTime().Unix(): // SFTP times are in seconds
		fmt.Fprintf(c.stderr, "burrow: %s changed after %s was written; copying it whole\n", src, dst)
		return 0, nil
	}
	n := min(dt.Size(), resumeCheck)
	off := dt.Size() - n
	theirs, mine := make([]byte, n), make([]byte, n)
	if _, err := in.ReadAt(mine, off); err != nil {
		return 0, fmt.Errorf("%s: %w", src, err)
	}
	d, err := to.open(dst)
	if err == nil {
		_, err = d.ReadAt(theirs, off)
		d.Close()
	}
	switch {
	case err != nil:
		fmt.Fprintf(c.stderr, "burrow: cannot read %s to resume (%v); copying it whole\n", dst, err)
		return 0, nil
	case !bytes.Equal(theirs, mine):
		fmt.Fprintf(c.stderr, "burrow: %s is not the start of %s; copying it whole\n", dst, src)
		return 0, nil
	}
	return dt.Size(), nil
}

// bar is progressbar's DefaultBytes, drawn on the command's standard error
// rather than the process's.
func (c *copier) bar(size int64, name string) *progressbar.ProgressBar {
	c.drawn = progressbar.NewOptions64(size,
		progressbar.OptionSetDescription(name),
		progressbar.OptionSetWriter(c.stderr),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionSetWidth(10),
		progressbar.OptionThrottle(65*time.Millisecond),
		progressbar.OptionShowCount(),
		progressbar.OptionOnCompletion(func() { fmt.Fprint(c.stderr, "\n") }),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionFullWidth(),
		progressbar.OptionSetRenderBlankState(true),
	)
	return c.drawn
}

// barReader counts bytes for the bar. Its Size lets sftp's ReadFrom
// write with concurrent requests.
type barReader struct {
	r    io.Reader
	bar  *progressbar.ProgressBar
	size int64
}

func (b *barReader) Size() int64 { return b.size }

func (b *barReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.bar.Add(n)
	if errors.Is(err, io.EOF) {
		b.bar.Finish()
	}
	return n, err
}
