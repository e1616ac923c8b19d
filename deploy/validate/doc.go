// Command validate renders the Kubernetes manifests of deploy/k8s (the base, every overlay and the
// base with each component) and checks every object offline against the real API types: strict
// decoding (unknown and duplicate fields are errors) into k8s.io/api, KEDA's
// (github.com/kedacore/keda/v2/apis/keda/v1alpha1) and the Prometheus Operator's
// (github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1) Go types. No schema
// is fetched: the types are Go modules resolved like any dependency. It also keeps the generated
// files of the kustomize base (the PrometheusRule and the Grafana dashboard copy) in step with
// their sources under monitoring/.
//
//	cd deploy/validate && go run . -root ../.. [-write] [-out ../../bin/manifests]
//
// `make manifests` runs it with -write and -out; `make test` runs its tests. It is its own module
// so that these test-only dependencies (and the Grafana Foundation SDK, used by the dashboard's
// schema test) stay out of the product's go.mod: an image build never downloads them.
package main
