// Package deploy holds the deployment files (systemd, Varnish, nginx, Apache, Kubernetes); its
// only Go code is a test that keeps systemd/ezdfsd.env.example in step with config.Settings().
package deploy
