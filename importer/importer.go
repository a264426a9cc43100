// Package importer is the Go counterpart of eZ Publish's clusterize.php: it walks a directory of an
// eZ installation (usually var/), writes one ezdfsfile row per file and copies the bytes to the
// storage backend the [DispatchableDFS] rules choose for it. Running it again is safe: files whose row
// and stored object already match are left alone.
package importer

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/storage"
)

// Target is one storage backend files can be copied to.
type Target struct {
	// Writer stores the bytes.
	Writer storage.Writer
	// Backend is used to check whether an identical object is already stored; may be nil.
	Backend storage.Backend
	// SameFile reports whether name is already stored at exactly srcPath (importing a var/ directory
	// that lives on the mount point itself); may be nil.
	SameFile func(name, srcPath string) bool
}

// Importer writes rows and bytes.
type Importer struct {
	// Rows receives the metadata rows.
	Rows metadata.Writer
	// Existing, if set, is consulted to leave unchanged files alone.
	Existing metadata.Store
	// Targets maps eZ backend class names (dfs.MountPointBackend, dfs.S3Backend) to destinations.
	Targets map[string]Target
	// Tables routes names to the storage or cache table.
	Tables dfs.Tables
	// Dispatch chooses the backend per name.
	Dispatch dfs.Dispatch
	// Profile is the product whose rows are written: "" or dfs.ProfileLegacy as eZ Publish
	// legacy's clusterize.php, dfs.ProfilePlatform as the eZ Platform / Ibexa metadata handler
	// (PlatformScope, and no -1/expired rewrite of a zero mtime).
	Profile string
	// Logger receives one line per failed file; nil discards.
	Logger *slog.Logger
}

// Report counts what a Run did.
type Report struct {
	// Imported files had their row written and bytes copied (or already in place).
	Imported int
	// Unchanged files already had a matching row and object.
	Unchanged int
	// Skipped files have names eZ cannot store (see dfs.CheckName) or are not regular files.
	Skipped int
	// Failed files could not be read, stored or recorded.
	Failed int
	// Bytes is the total size of the imported files.
	Bytes int64
	// ByBackend counts imported files per backend class name.
	ByBackend map[string]int
}

// String summarises the report on one line.
func (r Report) String() string {
	s := fmt.Sprintf("imported %d (%d bytes), unchanged %d, skipped %d, failed %d",
		r.Imported, r.Bytes, r.Unchanged, r.Skipped, r.Failed)
	if len(r.ByBackend) == 0 {
		return s
	}
	backends := make([]string, 0, len(r.ByBackend))
	for b := range r.ByBackend {
		backends = append(backends, b)
	}
	slices.Sort(backends)
	for i, b := range backends {
		backends[i] = fmt.Sprintf("%d to %s", r.ByBackend[b], b)
	}
	return s + "; " + strings.Join(backends, ", ")
}

// Run imports every regular file below root/dir (dir relative to root, e.g. "var"); cluster names
// are paths relative to root with forward slashes, as eZ stores them. It returns an error only if
// the walk itself cannot start or ctx ends; per-file failures are counted and logged.
func (im *Importer) Run(ctx context.Context, root, dir string) (Report, error) {
	logger := im.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	rep := Report{ByBackend: map[string]int{}}
	start := filepath.Join(root, filepath.FromSlash(dir))
	if _, err := os.Stat(start); err != nil {
		return rep, fmt.Errorf("import %s: %w", start, err)
	}
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, walkErr error) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if walkErr != nil {
			logger.Warn("import: cannot read", "path", p, "err", walkErr)
			rep.Failed++
			return nil
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			rep.Failed++
			return nil
		}
		name := filepath.ToSlash(rel)
		if !d.Type().IsRegular() || dfs.CheckName(name) != nil || strings.HasSuffix(name, ".generating") {
			rep.Skipped++
			return nil
		}
		n, unchanged, err := im.importFile(ctx, p, name)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			logger.Warn("import: file failed", "name", name, "err", err)
			rep.Failed++
		case unchanged:
			rep.Unchanged++
		default:
			rep.Imported++
			rep.Bytes += n
			rep.ByBackend[im.Dispatch.BackendFor(name)]++
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("import %s: %w", start, err)
	}
	return rep, nil
}

func (im *Importer) importFile(ctx context.Context, srcPath, name string) (size int64, unchanged bool, err error) {
	backend := im.Dispatch.BackendFor(name)
	target, ok := im.Targets[backend]
	if !ok {
		return 0, false, fmt.Errorf("no storage configured for backend %s", backend)
	}
	f, err := os.Open(srcPath)
	if err != nil {
		return 0, false, fmt.Errorf("open: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, false, fmt.Errorf("stat: %w", err)
	}
	row := metadata.File{
		Name:     name,
		Datatype: detectType(name, f),
		Scope:    Scope(name),
		Size:     st.Size(),
		MTime:    st.ModTime().Unix(),
	}
	if im.Profile == dfs.ProfilePlatform {
		// LegacyDFSCluster::create writes the mtime as given and never sets expired
		// (ibexa/core @b9295936 src/lib/IO/IOMetadataHandler/LegacyDFSCluster.php:54-78).
		row.Scope = PlatformScope(name)
	} else if row.MTime <= 0 { // eZ's _store(): a zero or unknown filemtime becomes -1
		row.MTime = -1
		row.Expired = true
	}
	table := im.Tables.For(name)
	if im.alreadyStored(ctx, table, row, target) {
		return row.Size, true, nil
	}
	if target.SameFile == nil || !target.SameFile(name, srcPath) {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return 0, false, fmt.Errorf("rewind: %w", err)
		}
		if err := target.Writer.Put(ctx, name, f, row.Size, row.Datatype); err != nil {
			return 0, false, fmt.Errorf("store bytes (%s): %w", backend, err)
		}
	}
	// Bytes first, then the row: unlike eZ's _storeInner, a reader never sees a row without bytes.
	if err := im.Rows.Put(ctx, table, row); err != nil {
		return 0, false, fmt.Errorf("write row: %w", err)
	}
	return row.Size, false, nil
}

// alreadyStored reports whether the table already holds an identical row and the backend an
// object of the right size, so a re-run copies nothing.
func (im *Importer) alreadyStored(ctx context.Context, table string, row metadata.File, target Target) bool {
	if im.Existing == nil || target.Backend == nil {
		return false
	}
	old, err := im.Existing.Lookup(ctx, metadata.Key{Table: table, Name: row.Name})
	if err != nil || old.Size != row.Size || old.MTime != row.MTime || old.Datatype != row.Datatype || old.Expired != row.Expired {
		return false
	}
	obj, err := target.Backend.Open(ctx, row.Name)
	if err != nil {
		return false
	}
	defer obj.Close()
	if s := obj.Size(); s >= 0 {
		return s == row.Size
	}
	// Size unknown without a remote call (S3): read one byte to prove the object exists.
	if row.Size == 0 {
		return true
	}
	r, err := obj.Range(ctx, row.Size-1, 1)
	if err != nil {
		return false
	}
	_, err = io.Copy(io.Discard, r)
	return err == nil
}

// Scope returns the eZ scope for a name, as eZ's own handlers and clusterize.php assign them:
// image for storage/images*, binaryfile for storage/original, texttoimage, ezjscore packs in
// cache/public, viewcache for cache/content, UNKNOWN_SCOPE otherwise.
func Scope(name string) string {
	switch {
	case strings.Contains(name, "/storage/images"):
		return "image"
	case strings.Contains(name, "/storage/original/"):
		return "binaryfile"
	case strings.Contains(name, "/cache/texttoimage/"):
		return "texttoimage"
	case strings.Contains(name, "/cache/public/"):
		return "ezjscore"
	case strings.Contains(name, "/cache/content/"):
		return "viewcache"
	default:
		return "UNKNOWN_SCOPE"
	}
}

// PlatformScope returns the scope the eZ Platform / Ibexa metadata handler writes: from the
// first segment of the SPI id (the name without var/<site>/storage/), "images" gives image,
// "original" binaryfile, anything else UNKNOWN_SCOPE, so images-versioned is UNKNOWN_SCOPE
// (ibexa/core @b9295936 src/lib/IO/IOMetadataHandler/LegacyDFSCluster.php:197-204). Its
// name_trunk is the name itself, which sqlstore.NameTrunk gives for these scopes.
func PlatformScope(name string) string {
	id := dfs.FlysystemKey("", name)
	first, _, _ := strings.Cut(id, "/")
	switch first {
	case "images":
		return "image"
	case "original":
		return "binaryfile"
	}
	return "UNKNOWN_SCOPE"
}

// extTypes are the datatypes eZ itself records for common extensions (eZMimeType, ezjscore); the
// standard library's table would add "; charset=utf-8" or differ (application/javascript).
var extTypes = map[string]string{
	".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".gif": "image/gif",
	".webp": "image/webp", ".svg": "image/svg+xml", ".ico": "image/x-icon", ".bmp": "image/bmp",
	".tif": "image/tiff", ".tiff": "image/tiff", ".css": "text/css", ".js": "text/javascript",
	".txt": "text/plain", ".html": "text/html", ".htm": "text/html", ".xml": "text/xml",
	".pdf": "application/pdf", ".zip": "application/zip", ".mp4": "video/mp4", ".mp3": "audio/mpeg",
	".json": "application/json", ".woff": "font/woff", ".woff2": "font/woff2",
}

// detectType chooses the datatype: images by their content (as clusterize.php does with
// eZMimeType::findByFileContents), everything else by extension, then by sniffing.
func detectType(name string, f *os.File) string {
	var head [512]byte
	n, _ := io.ReadFull(f, head[:])
	sniffed := http.DetectContentType(head[:n])
	if strings.HasPrefix(sniffed, "image/") {
		return sniffed
	}
	ext := strings.ToLower(path.Ext(name))
	if t, ok := extTypes[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		if mt, _, err := mime.ParseMediaType(t); err == nil {
			return mt
		}
	}
	if mt, _, err := mime.ParseMediaType(sniffed); err == nil && mt != "text/plain" {
		return mt
	}
	return "application/octet-stream"
}
