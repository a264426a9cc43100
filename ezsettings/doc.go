// Package ezsettings reads an eZ Publish legacy install's own settings, exactly as eZ reads
// them, so that ezdfsd can run with the values eZ already uses: eZ INI files (eZINI syntax,
// override order and array semantics), the PHP define() constants of config.php /
// config.cluster.php that index_cluster.php uses, and a Site summary of the cluster-related
// settings (database, mount point, [DispatchableDFS] rules, S3 bucket).
//
// It only reads files; it never evaluates PHP, never reads the environment, and reports every
// syntax mistake with file:line without quoting setting values (which may be passwords).
package ezsettings
