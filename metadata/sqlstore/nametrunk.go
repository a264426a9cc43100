package sqlstore

import "strings"

// templateBlockDir is the part of eZ's template-block cache directory that follows the site's
// cache directory (eZTemplateCacheBlock::templateBlockCacheDir() = CacheDir + "/template-block/").
const templateBlockDir = "template-block/"

// NameTrunk returns the name_trunk eZ Publish legacy stores for a cluster name (nameTrunk() in
// kernel/private/classes/clusterfilehandlers/dfsbackends/mysqli.php), including its quirks:
//
//   - scope "viewcache": the directory, "/", and the file name up to and including its first
//     "-". A file name without "-" keeps only its first byte (PHP's strpos false + 1), and a name
//     without "/" gets the directory "." (PHP's dirname).
//   - scope "template-block": for subtree caches (a "subtree/" below the template-block
//     directory) the name up to and including the "cache/" part after the template-block
//     directory, e.g. "var/site/cache/template-block/subtree/1/2/cache/"; other
//     template-block names are returned whole. eZ takes the template-block directory from its
//     settings; NameTrunk takes the name up to the first "template-block/" that starts the
//     name or follows a "/", and returns the name whole when there is none.
//   - any other scope: the name itself.
func NameTrunk(name, scope string) string {
	switch scope {
	case "viewcache":
		dir, file := ".", name
		if i := strings.LastIndexByte(name, '/'); i >= 0 {
			dir, file = name[:i], name[i+1:]
			if dir == "" {
				dir = "/"
			}
		}
		n := strings.IndexByte(file, '-') + 1
		if n == 0 {
			n = 1 // PHP: strpos() === false, and false + 1 === 1
		}
		n = min(n, len(file))
		return dir + "/" + file[:n]
	case "template-block":
		dir := templateBlockPrefix(name)
		if dir == "" {
			return name
		}
		rest := strings.ReplaceAll(name, dir, "")
		if !strings.Contains(rest, "subtree/") {
			return name
		}
		// PHP: strpos() === false counts as 0, and substr() stops at the end.
		n := len(dir) + max(strings.Index(rest, "cache/"), 0) + len("cache/")
		return name[:min(n, len(name))]
	default:
		return name
	}
}

// templateBlockPrefix returns name up to and including the first "template-block/" path
// element, or "" if there is none.
func templateBlockPrefix(name string) string {
	for off := 0; off < len(name); {
		i := strings.Index(name[off:], templateBlockDir)
		if i < 0 {
			return ""
		}
		i += off
		if i == 0 || name[i-1] == '/' {
			return name[:i+len(templateBlockDir)]
		}
		off = i + 1
	}
	return ""
}
