package dfs

import "strings"

// eZ class names of the DFS file-system backends, as file.ini names them.
const (
	// MountPointBackend is eZ's NFS backend (eZDFSFileHandlerDFSBackend): MountPointPath + "/" + name.
	MountPointBackend = "eZDFSFileHandlerDFSBackend"
	// S3Backend is ezdfs-fsbackend-aws-s3's backend: object key = name, one bucket.
	S3Backend = "eZDFSFileHandlerDFSAmazon"
	// DispatcherBackend is ezdfs-fsbackend-dispatcher's class; as file.ini's DFSBackend it turns
	// the [DispatchableDFS] rules on.
	DispatcherBackend = "eZDFSFileHandlerDFSDispatcher"
)

// Rule is one PathBackends[Key]=Backend line of file.ini [DispatchableDFS].
type Rule struct {
	// Key is matched as a substring anywhere in the cluster name.
	Key string
	// Backend is the eZ class name of the backend that serves matching names.
	Backend string
}

// Dispatch picks the backend of a name exactly as eZDFSFileHandlerDFSRegistry does: the first
// rule, in INI order, whose key occurs anywhere in the name (strstr, not a prefix test) wins;
// otherwise Default.
type Dispatch struct {
	// Rules in INI order (base file.ini first, global override last; a bare PathBackends[] resets).
	Rules []Rule
	// Default is DefaultBackend (eZDFSFileHandlerDFSBackend unless configured).
	Default string
}

// BackendFor returns the eZ backend class name for name.
func (d Dispatch) BackendFor(name string) string {
	for _, r := range d.Rules {
		if strings.Contains(name, r.Key) {
			return r.Backend
		}
	}
	return d.defaultBackend()
}

func (d Dispatch) defaultBackend() string {
	if d.Default == "" {
		return MountPointBackend
	}
	return d.Default
}

// Backends returns the distinct backend class names the rules and the default can choose.
func (d Dispatch) Backends() []string {
	seen := map[string]bool{}
	var out []string
	add := func(b string) {
		if !seen[b] {
			seen[b] = true
			out = append(out, b)
		}
	}
	add(d.defaultBackend())
	for _, r := range d.Rules {
		add(r.Backend)
	}
	return out
}
