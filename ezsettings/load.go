package ezsettings

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// LoadINI reads the INI file named file (e.g. "file.ini") of the eZ Publish legacy install at
// ezRoot the way eZINI does outside any siteaccess (eZINI::findInputFiles), merging in this order:
//
//  1. settings/<file>, then settings/<file>.php;
//  2. for each active extension with a settings directory, the LAST listed in site.ini
//     [ExtensionSettings] ActiveExtensions first (eZ prepends each extension's directory, so the
//     first listed has the last word): <ExtensionDirectory>/<ext>/settings/ + the four variants;
//  3. settings/override/ + the four variants.
//
// The four variants are <file>.php, <file>, <file>.append.php and <file>.append, in that order.
// Siteaccess directories are not read: the cluster settings must be global in eZ anyway.
// Missing files are skipped; the returned list names the files read, relative to ezRoot with
// "/" separators. A missing or unreadable ezRoot is an error.
func LoadINI(ezRoot, file string) (*INI, []string, error) {
	if err := checkRoot(ezRoot); err != nil {
		return nil, nil, err
	}
	exts, _, err := extensionSettingsDirs(ezRoot)
	if err != nil {
		return nil, nil, err
	}
	return loadINI(ezRoot, file, exts)
}

func checkRoot(ezRoot string) error {
	if ezRoot == "" {
		return errors.New("eZ root: no directory given")
	}
	st, err := os.Stat(ezRoot)
	if err != nil {
		return fmt.Errorf("eZ root: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("eZ root %s: not a directory", ezRoot)
	}
	return nil
}

// inputFiles lists the candidate files of eZ's order (see LoadINI), relative to the root.
func inputFiles(file string, extDirs []string) []string {
	files := []string{path.Join("settings", file)}
	if !strings.Contains(file, ".php") {
		files = append(files, path.Join("settings", file+".php"))
	}
	variants := func(dir string) []string {
		p := path.Join(dir, file)
		return []string{p + ".php", p, p + ".append.php", p + ".append"}
	}
	for _, d := range extDirs {
		files = append(files, variants(d)...)
	}
	return append(files, variants("settings/override")...)
}

// loadINI parses and merges the existing files among inputFiles(file, extDirs).
func loadINI(ezRoot, file string, extDirs []string) (*INI, []string, error) {
	merged := &INI{}
	var read []string
	for _, rel := range inputFiles(file, extDirs) {
		f, err := os.Open(filepath.Join(ezRoot, filepath.FromSlash(rel)))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("eZ settings: %w", err)
		}
		ini, err := ParseINI(f, rel)
		f.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("eZ settings: %w", err)
		}
		merged.Merge(ini)
		read = append(read, rel)
	}
	return merged, read, nil
}

// extensionSettingsDirs returns the settings directories of the active extensions in eZ's
// parse order, and the ActiveExtensions list they come from: site.ini without extension
// overrides (eZ reads it before activating extensions).
func extensionSettingsDirs(ezRoot string) (dirs, active []string, err error) {
	site, _, err := loadINI(ezRoot, "site.ini", nil)
	if err != nil {
		return nil, nil, err
	}
	extDir := "extension"
	if v, ok := site.Get("ExtensionSettings", "ExtensionDirectory"); ok && strings.TrimSpace(v) != "" {
		extDir = strings.Trim(strings.TrimSpace(v), "/")
	}
	for _, ext := range site.List("ExtensionSettings", "ActiveExtensions") {
		if ext = strings.TrimSpace(ext); ext != "" {
			active = append(active, ext)
		}
		if ext == "" || strings.Contains(ext, "..") || strings.ContainsAny(ext, `/\`) {
			continue
		}
		d := path.Join(extDir, ext, "settings")
		if st, err := os.Stat(filepath.Join(ezRoot, filepath.FromSlash(d))); err == nil && st.IsDir() && !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	slices.Reverse(dirs)
	return dirs, active, nil
}
