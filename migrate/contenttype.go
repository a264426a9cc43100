package migrate

import (
	"path"
	"strings"
)

// ContentType is the Content-Type the eZ S3 backend's uploads get for name: eZ sets none, and
// the AWS SDK for PHP v3 (Middleware::contentType) adds one from the file extension for
// uploads from a file (guzzlehttp/psr7 MimeType), application/octet-stream otherwise. The
// row's datatype is not used: eZ never writes it to S3, and ezdfsd serves Content-Type from
// the row anyway; the object's own type matters only to clients reading the bucket directly
// (--acl public-read), which have so far seen the extension's type.
func ContentType(name string) string {
	ext := strings.ToLower(strings.TrimPrefix(path.Ext(name), "."))
	if t, ok := mimeTypes[ext]; ok {
		return t
	}
	return "application/octet-stream"
}

// mimeTypes are guzzlehttp/psr7 MimeType's types for the extensions eZ sites store.
var mimeTypes = map[string]string{
	"jpg": "image/jpeg", "jpeg": "image/jpeg", "jpe": "image/jpeg", "png": "image/png", "gif": "image/gif",
	"webp": "image/webp", "svg": "image/svg+xml", "svgz": "image/svg+xml", "ico": "image/x-icon", "bmp": "image/bmp",
	"tif": "image/tiff", "tiff": "image/tiff", "avif": "image/avif", "heic": "image/heic",
	"css": "text/css", "js": "application/javascript", "json": "application/json", "xml": "application/xml",
	"html": "text/html", "htm": "text/html", "txt": "text/plain", "csv": "text/csv", "rtf": "application/rtf",
	"pdf": "application/pdf", "zip": "application/zip", "gz": "application/gzip", "tar": "application/x-tar",
	"doc": "application/msword", "dot": "application/msword",
	"docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	"xls":  "application/vnd.ms-excel", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	"ppt": "application/vnd.ms-powerpoint", "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
	"odt": "application/vnd.oasis.opendocument.text", "ods": "application/vnd.oasis.opendocument.spreadsheet",
	"odp": "application/vnd.oasis.opendocument.presentation",
	"mp3": "audio/mpeg", "ogg": "audio/ogg", "wav": "audio/x-wav", "mp4": "video/mp4", "m4v": "video/mp4",
	"webm": "video/webm", "mov": "video/quicktime", "avi": "video/x-msvideo", "flv": "video/x-flv", "mpeg": "video/mpeg",
	"mpg": "video/mpeg", "swf": "application/x-shockwave-flash",
	"woff": "font/woff", "woff2": "font/woff2", "ttf": "font/ttf", "otf": "font/otf", "eot": "application/vnd.ms-fontobject",
}
