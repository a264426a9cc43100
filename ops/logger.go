package ops

import (
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"time"
)

// NewLogger builds the daemon's logger writing to w (nil: discard) at the given minimum level.
//
// format is "text" or "json", case-insensitive; an empty value means "text". Any other value
// is an error naming the accepted ones. (The level is parsed once, by config's log-level
// setting.)
//
// Warnings and errors that repeat one kind (message and error class) are rate-limited: the first
// is written in full, then at most one line per DefaultLogRepeatInterval, carrying the count held
// back since the previous one (see NewRateLimitHandler); WithRepeatInterval changes or turns off
// the interval.
//
// Every string attribute, error attribute and the message itself pass through
// Redact, and attributes whose key names a password, secret or token are
// logged as "***", so a DSN or URL with a password that reaches a log line shows "***"
// instead of the secret.
func NewLogger(w io.Writer, format string, level slog.Level, options ...LoggerOption) (*slog.Logger, error) {
	if w == nil {
		w = io.Discard
	}
	o := loggerOptions{repeatInterval: DefaultLogRepeatInterval}
	for _, opt := range options {
		opt(&o)
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: redactAttr}
	var h slog.Handler
	switch strings.ToLower(strings.TrimSpace(format)) {
	case "", "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("log format %q: want text or json", format)
	}
	if o.repeatInterval > 0 {
		h = NewRateLimitHandler(h, o.repeatInterval, nil)
	}
	return slog.New(h), nil
}

// LoggerOption changes a NewLogger default.
type LoggerOption func(*loggerOptions)

type loggerOptions struct {
	repeatInterval time.Duration
}

// WithRepeatInterval sets how often a repeated warning or error of one kind is written
// (default DefaultLogRepeatInterval); 0 writes every line, for batch commands whose per-item
// lines are their output (ezdfsd import logs one line per failed file).
func WithRepeatInterval(d time.Duration) LoggerOption {
	return func(o *loggerOptions) { o.repeatInterval = d }
}

// redactAttr is the slog ReplaceAttr hook applying Redact to strings and errors.
func redactAttr(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() != slog.KindGroup && secretKey.MatchString(a.Key) {
		a.Value = slog.StringValue("***")
		return a
	}
	switch a.Value.Kind() {
	case slog.KindString:
		if s := a.Value.String(); mayHoldSecret(s) {
			a.Value = slog.StringValue(Redact(s))
		}
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok && err != nil {
			if s := err.Error(); mayHoldSecret(s) {
				a.Value = slog.StringValue(Redact(s))
			}
		}
	}
	return a
}

var (
	// attribute keys whose value is a secret as a whole
	secretKey = regexp.MustCompile(`(?i)(password|passwd|secret|token)`)
	// scheme://user:pass@  (URL userinfo; '@' inside a URL password must be %-escaped)
	urlUserinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.\-]*://[^:@/\s]*):[^@/\s]*@`)
	// user:pass@tcp(  user:pass@unix(  user:pass@/db  (go-sql-driver/mysql DSN; the
	// driver splits at the LAST '@', so the password may itself contain '@')
	mysqlDSN = regexp.MustCompile(`(^|[\s"'=,;(\[{])([^\s:@/"'=,;(\[{]+):\S*@([A-Za-z0-9]+\(|/)`)
	// password=...  (key/value forms: DSN parameters, env dumps, INI lines)
	keyValue = regexp.MustCompile(`(?i)((?:password|passwd|pwd|secret[_-]?key|secret|token)\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s&;,"']+)`)
)

// mysqlUsingPassword hides, while the patterns run, the ':' of MySQL's own wording in "Access
// denied for user 'ezp'@'10.0.0.5' (using password: YES)", which says whether a password was
// sent, not which; keepUsingPassword puts it back. Only these two exact phrases are kept.
var (
	mysqlUsingPassword = strings.NewReplacer("(using password: YES)", "(using password\x00 YES)",
		"(using password: NO)", "(using password\x00 NO)")
	keepUsingPassword = strings.NewReplacer("(using password\x00 YES)", "(using password: YES)",
		"(using password\x00 NO)", "(using password: NO)")
)

// mayHoldSecret is a cheap pre-filter so ordinary log values skip the regexps.
func mayHoldSecret(s string) bool {
	return strings.ContainsAny(s, "@=:")
}

// Redact returns s with credentials masked, for log messages and readiness
// errors: URL userinfo "scheme://user:pass@" becomes "scheme://user:***@", a
// MySQL DSN "user:pass@tcp(" (or "@unix(", "@/") becomes "user:***@tcp(", and
// "password=value" (also passwd, pwd, secret, secret_key, token; '=' or ':';
// quoted values included) becomes "password=***". User names, hosts and the
// rest of the string are kept, and so is MySQL's "(using password: YES)". Text without such
// patterns is returned as is.
func Redact(s string) string {
	if !mayHoldSecret(s) {
		return s
	}
	kept := strings.Contains(s, "(using password: ")
	if kept {
		s = mysqlUsingPassword.Replace(s)
	}
	s = urlUserinfo.ReplaceAllString(s, "$1:***@")
	s = mysqlDSN.ReplaceAllString(s, "$1$2:***@$3")
	s = keyValue.ReplaceAllString(s, "$1***")
	if kept {
		s = keepUsingPassword.Replace(s)
	}
	return s
}
