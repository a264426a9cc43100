package cache

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// clusterConfig is an ElastiCache memcached cluster configuration.
type clusterConfig struct {
	// Version increases whenever the node list changes.
	Version int64
	// Nodes are host:port addresses (the IP when ElastiCache gives one), sorted, so that every
	// ezdfsd node hashes keys onto the same memcached node.
	Nodes []string
	// Names maps each node address that is an IP to the node's host name, which TLS
	// certificates are issued for.
	Names map[string]string
}

// maxConfigBytes bounds the configuration body we accept.
const maxConfigBytes = 1 << 20

// discover asks an ElastiCache configuration endpoint for the cluster's nodes: first with
// "config get cluster" (engine 1.4.14 and later), then, if the server does not know that
// command, with "get AmazonElastiCache:cluster" (older engines).
func discover(ctx context.Context, dial dialFunc, endpoint string) (clusterConfig, error) {
	conn, err := dial(ctx, "tcp", endpoint)
	if err != nil {
		return clusterConfig{}, fmt.Errorf("memcached discovery %s: %w", endpoint, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	} else {
		conn.SetDeadline(time.Now().Add(5 * time.Second))
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	rw := bufio.NewReadWriter(bufio.NewReader(conn), bufio.NewWriter(conn))
	body, err := requestConfig(rw, "config get cluster", "CONFIG", "cluster")
	if errors.Is(err, errUnknownCommand) {
		body, err = requestConfig(rw, "get AmazonElastiCache:cluster", "VALUE", "AmazonElastiCache:cluster")
	}
	if err != nil {
		return clusterConfig{}, fmt.Errorf("memcached discovery %s: %w", endpoint, err)
	}
	cc, err := parseClusterConfig(body)
	if err != nil {
		return clusterConfig{}, fmt.Errorf("memcached discovery %s: %w", endpoint, err)
	}
	return cc, nil
}

var errUnknownCommand = errors.New("command not supported")

// requestConfig sends cmd and reads a "<kind> <name> <flags> <len>\r\n<body>\r\nEND\r\n" answer.
func requestConfig(rw *bufio.ReadWriter, cmd, kind, name string) ([]byte, error) {
	if _, err := rw.WriteString(cmd + "\r\n"); err != nil {
		return nil, fmt.Errorf("send %q: %w", cmd, err)
	}
	if err := rw.Flush(); err != nil {
		return nil, fmt.Errorf("send %q: %w", cmd, err)
	}
	line, err := readLine(rw.Reader)
	if err != nil {
		return nil, fmt.Errorf("%q: read header: %w", cmd, err)
	}
	switch {
	case line == "ERROR" || strings.HasPrefix(line, "CLIENT_ERROR"):
		return nil, fmt.Errorf("%q: %s: %w", cmd, line, errUnknownCommand)
	case line == "END":
		return nil, fmt.Errorf("%q: no cluster configuration (not an ElastiCache configuration endpoint?)", cmd)
	}
	f := strings.Fields(line)
	if len(f) != 4 || f[0] != kind || f[1] != name {
		return nil, fmt.Errorf("%q: unexpected answer %q", cmd, line)
	}
	n, err := strconv.Atoi(f[3])
	if err != nil || n < 0 || n > maxConfigBytes {
		return nil, fmt.Errorf("%q: bad length in %q", cmd, line)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(rw, body); err != nil {
		return nil, fmt.Errorf("%q: read %d-byte body: %w", cmd, n, err)
	}
	// The body is followed by "\r\n" (ElastiCache adds an empty line) and "END".
	for {
		line, err := readLine(rw.Reader)
		if err != nil {
			return nil, fmt.Errorf("%q: read trailer: %w", cmd, err)
		}
		if line == "END" {
			return body, nil
		}
		if line != "" {
			return nil, fmt.Errorf("%q: unexpected line %q after body", cmd, line)
		}
	}
}

// readLine reads one line and strips "\r\n" (or "\n").
func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// parseClusterConfig parses "<version>\n<host>|<ip>|<port> <host>|<ip>|<port> ...\n".
func parseClusterConfig(body []byte) (clusterConfig, error) {
	lines := strings.Split(strings.TrimSpace(string(bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n")))), "\n")
	if len(lines) < 2 {
		return clusterConfig{}, fmt.Errorf("cluster configuration %q: want a version line and a node line", body)
	}
	v, err := strconv.ParseInt(strings.TrimSpace(lines[0]), 10, 64)
	if err != nil {
		return clusterConfig{}, fmt.Errorf("cluster configuration: bad version %q", lines[0])
	}
	var nodes []string
	names := map[string]string{}
	for _, n := range strings.Fields(lines[1]) {
		parts := strings.Split(n, "|")
		if len(parts) != 3 {
			return clusterConfig{}, fmt.Errorf("cluster configuration: bad node %q (want host|ip|port)", n)
		}
		host, ip, port := parts[0], parts[1], parts[2]
		if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
			return clusterConfig{}, fmt.Errorf("cluster configuration: bad port in node %q", n)
		}
		addr := ip
		if addr == "" {
			addr = host
		}
		if addr == "" {
			return clusterConfig{}, fmt.Errorf("cluster configuration: node %q has neither host nor IP", n)
		}
		nodes = append(nodes, net.JoinHostPort(addr, port))
		if host != "" && ip != "" {
			names[net.JoinHostPort(ip, port)] = host
		}
	}
	if len(nodes) == 0 {
		return clusterConfig{}, errors.New("cluster configuration lists no nodes")
	}
	slices.Sort(nodes)
	nodes = slices.Compact(nodes)
	return clusterConfig{Version: v, Nodes: nodes, Names: names}, nil
}
