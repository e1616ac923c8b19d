// Package monitoring holds no code: it is the home of the static checks (monitoring_test.go) of
// the deployment and observability files of the enrichment service: the Prometheus configurations,
// alert rules and their promtool unit tests, the Grafana dashboard and provisioning, the
// Alertmanager configuration, the docker compose files, the Dockerfile and the Kubernetes
// manifests under deploy/k8s, checked against the metric catalog in docs/metrics.md and the
// runbooks in docs/runbooks.md. The checks that need the Kubernetes, KEDA, Prometheus Operator and
// Grafana Go types (strict decoding of the rendered manifests, the dashboard against Grafana's
// schema) live in deploy/validate, a module of their own, so that the product's go.mod does not
// carry them.
//
// The checks need promtool and docker-compose (v1, for `config -q`), PyYAML (to read YAML without
// a Go YAML module) and kubectl (for `kubectl kustomize`):
//
//	apt-get install -y --no-install-recommends prometheus docker-compose
//
// docker-compose brings python3-yaml; kubectl is part of this project's machine image.
package monitoring
