package main

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"
)

// Names the checks rely on (the contract's queues, the manifests' objects).
const (
	workerName     = "enrichment-worker"
	rabbitMonitor  = "enrichment-rabbitmq"
	workQueue      = "metadata_enrichment_queue"
	priorityQueue  = "metadata_enrichment_priority"
	secretName     = "enrichment-secrets"
	releaseLabel   = "release"
	sidecarLabel   = "grafana_dashboard"
	gomemlimitMin  = 0.85
	gomemlimitMax  = 0.95
	overlayMarker  = "SET_BY_OVERLAY"
	environmentLbl = "environment"
)

// rabbitmqTriggerKeys are the trigger metadata keys KEDA v2.20's rabbitmq scaler reads
// (rabbitMQMetadata in pkg/scalers/rabbitmq_scaler.go, `order=triggerMetadata`). Trigger
// metadata is a map[string]string in the API type, so strict decoding cannot catch a misspelt
// key; this list does.
var rabbitmqTriggerKeys = []string{
	"queueName", "mode", "queueLength", "value", "activationValue", "host", "hostFromEnv", "protocol",
	"vhostName", "useRegex", "excludeUnacknowledged", "pageSize", "operation", "timeout", "unsafeSsl",
	"usernameFromEnv", "passwordFromEnv",
}

// checkObjects checks what strict decoding cannot: how the objects of one build fit together.
// root is the repository root (the sources of the generated objects).
func checkObjects(root string, b build, objs []object) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(b.name+": "+format, args...)) }

	byKind := map[string][]object{}
	for _, o := range objs {
		byKind[o.kind] = append(byKind[o.kind], o)
	}
	find := func(kind, name string) *object {
		for _, o := range byKind[kind] {
			if o.name == name {
				return &o
			}
		}
		return nil
	}

	// GOMEMLIMIT at about 90% of the memory limit, in every container that sets both, and the
	// worker must set it.
	for _, o := range byKind["Deployment"] {
		d := o.value.(*appsv1.Deployment)
		for _, c := range d.Spec.Template.Spec.Containers {
			ratio, ok, err := gomemlimitRatio(c)
			switch {
			case err != nil:
				fail("Deployment %s container %s: %v", d.Name, c.Name, err)
			case !ok && d.Name == workerName:
				fail("Deployment %s container %s: got no GOMEMLIMIT value with a memory limit, want GOMEMLIMIT at about 90%% of limits.memory", d.Name, c.Name)
			case ok && (ratio < gomemlimitMin || ratio > gomemlimitMax):
				fail("Deployment %s container %s: GOMEMLIMIT is %.0f%% of limits.memory, want %.0f%%–%.0f%% (headroom before the OOM kill)", d.Name, c.Name, 100*ratio, 100*gomemlimitMin, 100*gomemlimitMax)
			}
		}
	}

	// KEDA: the trigger counts the work queue and the priority lane, ready and unacked.
	var secret *corev1.Secret
	if s := find("Secret", secretName); s != nil {
		secret = s.value.(*corev1.Secret)
	}
	for _, o := range byKind["ScaledObject"] {
		so := o.value.(*kedav1alpha1.ScaledObject)
		if err := kedav1alpha1.ValidateTriggers(so.Spec.Triggers); err != nil {
			fail("ScaledObject %s: %v", so.Name, err)
		}
		if err := kedav1alpha1.CheckReplicaCountBoundsAreValid(so); err != nil {
			fail("ScaledObject %s: %v", so.Name, err)
		}
		if err := kedav1alpha1.CheckFallbackValid(so); err != nil {
			fail("ScaledObject %s: %v", so.Name, err)
		}
		if so.Spec.ScaleTargetRef == nil || so.Spec.ScaleTargetRef.Name != workerName {
			fail("ScaledObject %s: got scaleTargetRef %+v, want Deployment %s", so.Name, so.Spec.ScaleTargetRef, workerName)
		}
		for i, tr := range so.Spec.Triggers {
			for _, e := range checkRabbitTrigger(tr) {
				fail("ScaledObject %s trigger %d: %v", so.Name, i, e)
			}
			if tr.AuthenticationRef == nil {
				continue
			}
			ta := find("TriggerAuthentication", tr.AuthenticationRef.Name)
			if ta == nil {
				fail("ScaledObject %s trigger %d: got no TriggerAuthentication %s", so.Name, i, tr.AuthenticationRef.Name)
				continue
			}
			for _, ref := range ta.value.(*kedav1alpha1.TriggerAuthentication).Spec.SecretTargetRef {
				if ref.Name != secretName || secret == nil {
					fail("TriggerAuthentication %s: got Secret %q, want %s in the build", ta.name, ref.Name, secretName)
					continue
				}
				val, ok := secretValue(secret, ref.Key)
				if !ok {
					fail("TriggerAuthentication %s: Secret %s has no key %s", ta.name, ref.Name, ref.Key)
					continue
				}
				if ref.Parameter == "host" && tr.Metadata["protocol"] == "http" {
					if u, err := url.Parse(val); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
						fail("TriggerAuthentication %s: host from %s is %q, want an http(s) management API URL for protocol http", ta.name, ref.Key, redact(val))
					}
				}
			}
		}
	}

	// Prometheus Operator objects carry the label kube-prometheus-stack selects on.
	for _, kind := range []string{"ServiceMonitor", "PrometheusRule"} {
		for _, o := range byKind[kind] {
			var labels map[string]string
			switch v := o.value.(type) {
			case *monitoringv1.ServiceMonitor:
				labels = v.Labels
			case *monitoringv1.PrometheusRule:
				labels = v.Labels
			}
			if labels[releaseLabel] == "" {
				fail("%s %s: got no %s label, want the one the Prometheus selects on (kube-prometheus-stack: release=<helm release>)", kind, o.name, releaseLabel)
			}
		}
	}

	// The PrometheusRule holds exactly the rule file's groups.
	if o := find("PrometheusRule", ruleName); o == nil {
		fail("got no PrometheusRule %s, want the alert rules shipped", ruleName)
	} else if err := sameRules(root, o.value.(*monitoringv1.PrometheusRule)); err != nil {
		fail("PrometheusRule %s: %v", ruleName, err)
	}

	// The dashboard ConfigMap holds the dashboard, labelled for Grafana's sidecar.
	if o := find("ConfigMap", dashboardCM); o == nil {
		fail("got no ConfigMap %s, want the Grafana dashboard shipped", dashboardCM)
	} else if err := sameDashboard(root, o.value.(*corev1.ConfigMap)); err != nil {
		fail("ConfigMap %s: %v", dashboardCM, err)
	}

	// The worker ServiceMonitor labels environment; the RabbitMQ one (when shipped) sets the same
	// environment and keeps the vhost the workers and KEDA use.
	if o := find("ServiceMonitor", workerName); o == nil {
		fail("got no ServiceMonitor %s", workerName)
	} else {
		sm := o.value.(*monitoringv1.ServiceMonitor)
		if !setsEnvironmentFromNamespace(sm) {
			fail("ServiceMonitor %s: got no relabeling of __meta_kubernetes_namespace into %s, want every worker series labelled with its environment", sm.Name, environmentLbl)
		}
		if r := find("ServiceMonitor", rabbitMonitor); r != nil {
			for _, e := range checkRabbitMonitor(r.value.(*monitoringv1.ServiceMonitor), sm.Namespace, secret, byKind["ScaledObject"]) {
				fail("ServiceMonitor %s: %v", rabbitMonitor, e)
			}
		}
	}
	return errs
}

// gomemlimitRatio returns GOMEMLIMIT / limits.memory of a container; ok is false when either is
// missing.
func gomemlimitRatio(c corev1.Container) (ratio float64, ok bool, err error) {
	lim, hasLim := c.Resources.Limits[corev1.ResourceMemory]
	var v string
	for _, e := range c.Env {
		if e.Name == "GOMEMLIMIT" {
			if e.ValueFrom != nil {
				return 0, false, fmt.Errorf("GOMEMLIMIT from valueFrom: a resourceFieldRef is 100%% of the limit, want a value at about 90%%")
			}
			v = e.Value
		}
	}
	if !hasLim || v == "" {
		return 0, false, nil
	}
	n, err := parseGoMemLimit(v)
	if err != nil {
		return 0, false, fmt.Errorf("GOMEMLIMIT=%q: %w", v, err)
	}
	return float64(n) / float64(lim.Value()), true, nil
}

// parseGoMemLimit parses GOMEMLIMIT as the Go runtime does: a byte count with an optional
// B, KiB, MiB, GiB or TiB suffix.
func parseGoMemLimit(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.ParseInt(num, 10, 64)
			if err != nil || n <= 0 {
				return 0, fmt.Errorf("want a positive integer before %s", u.suffix)
			}
			return n * u.mult, nil
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("want bytes or a B/KiB/MiB/GiB/TiB suffix (the Go runtime ignores anything else, Kubernetes' Mi included)")
	}
	return n, nil
}

// checkRabbitTrigger checks a rabbitmq trigger: known metadata keys, and a count of the work
// queue plus the priority lane, ready and unacknowledged, through the management API.
func checkRabbitTrigger(tr kedav1alpha1.ScaleTriggers) []error {
	if tr.Type != "rabbitmq" {
		return []error{fmt.Errorf("type %q, want rabbitmq (the queue backlog is the scaling signal)", tr.Type)}
	}
	var errs []error
	var keys []string
	for k := range tr.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !slices.Contains(rabbitmqTriggerKeys, k) {
			errs = append(errs, fmt.Errorf("metadata key %q is not one KEDA's rabbitmq scaler reads (%v)", k, rabbitmqTriggerKeys))
		}
	}
	m := tr.Metadata
	for k, want := range map[string]string{"protocol": "http", "mode": "QueueLength", "useRegex": "true", "operation": "sum"} {
		if m[k] != want {
			errs = append(errs, fmt.Errorf("%s is %q, want %q (ready and unacked messages of both queues, summed, through the management API)", k, m[k], want))
		}
	}
	if m["excludeUnacknowledged"] == "true" {
		errs = append(errs, fmt.Errorf("excludeUnacknowledged is true, want the messages in flight counted"))
	}
	if v, err := strconv.ParseFloat(m["value"], 64); err != nil || v <= 0 {
		errs = append(errs, fmt.Errorf("value %q, want a positive number of messages per replica", m["value"]))
	}
	re, err := regexp.Compile(m["queueName"])
	if err != nil {
		return append(errs, fmt.Errorf("queueName %q: %w", m["queueName"], err))
	}
	for _, q := range []string{workQueue, priorityQueue} {
		if !re.MatchString(q) {
			errs = append(errs, fmt.Errorf("queueName %q does not match %s, want the work queue and the priority lane", m["queueName"], q))
		}
	}
	for _, q := range []string{"metadata_enrichment_dlq", "metadata_enrichment_retry_2s"} {
		if re.MatchString(q) {
			errs = append(errs, fmt.Errorf("queueName %q matches %s, want only the queues the workers consume", m["queueName"], q))
		}
	}
	if m["vhostName"] == "" {
		errs = append(errs, fmt.Errorf("vhostName is empty, want the environment's vhost named (the management URL carries none)"))
	}
	return errs
}

func setsEnvironmentFromNamespace(sm *monitoringv1.ServiceMonitor) bool {
	for _, ep := range sm.Spec.Endpoints {
		for _, r := range ep.RelabelConfigs {
			if r.TargetLabel == environmentLbl && len(r.SourceLabels) == 1 && r.SourceLabels[0] == "__meta_kubernetes_namespace" {
				return true
			}
		}
	}
	return false
}

// checkRabbitMonitor: job="rabbitmq" on /metrics/per-object, the workers' environment, and a
// vhost filter that keeps the vhost of AMQP_URL and of the ScaledObject.
func checkRabbitMonitor(sm *monitoringv1.ServiceMonitor, workerNamespace string, secret *corev1.Secret, scaledObjects []object) []error {
	var errs []error
	if len(sm.Spec.Endpoints) != 1 {
		return []error{fmt.Errorf("got %d endpoints, want 1", len(sm.Spec.Endpoints))}
	}
	ep := sm.Spec.Endpoints[0]
	if ep.Path != "/metrics/per-object" {
		errs = append(errs, fmt.Errorf("path %q, want /metrics/per-object (per-queue series with vhost and queue)", ep.Path))
	}
	var job, env string
	for _, r := range ep.RelabelConfigs {
		if r.Replacement == nil {
			continue
		}
		switch r.TargetLabel {
		case "job":
			job = *r.Replacement
		case environmentLbl:
			env = *r.Replacement
		}
	}
	if job != "rabbitmq" {
		errs = append(errs, fmt.Errorf("job %q, want rabbitmq (the alerts select job=\"rabbitmq\")", job))
	}
	if workerNamespace != "" && env != workerNamespace {
		errs = append(errs, fmt.Errorf("environment %q, want the workers' %q (their namespace): the queue and worker series must match", env, workerNamespace))
	}
	var keep *regexp.Regexp
	for _, r := range ep.MetricRelabelConfigs {
		if strings.EqualFold(string(r.Action), "keep") && len(r.SourceLabels) == 1 && r.SourceLabels[0] == "vhost" {
			re, err := regexp.Compile("^(?:" + r.Regex + ")$")
			if err != nil {
				errs = append(errs, fmt.Errorf("vhost regex %q: %w", r.Regex, err))
				continue
			}
			keep = re
		}
	}
	if keep == nil {
		return append(errs, fmt.Errorf("got no metricRelabelings keep rule on vhost, want only the environment's vhost kept"))
	}
	if secret != nil {
		if amqp, ok := secretValue(secret, "AMQP_URL"); ok {
			if vhost, err := amqpVhost(amqp); err == nil && !keep.MatchString(vhost) {
				errs = append(errs, fmt.Errorf("keeps vhosts %q, which drops the workers' vhost %q (AMQP_URL)", keep.String(), vhost))
			}
		}
	}
	for _, o := range scaledObjects {
		for _, tr := range o.value.(*kedav1alpha1.ScaledObject).Spec.Triggers {
			if v := tr.Metadata["vhostName"]; v != "" && !keep.MatchString(v) {
				errs = append(errs, fmt.Errorf("keeps vhosts %q, which drops the vhost %q KEDA scales on", keep.String(), v))
			}
		}
	}
	return errs
}

// amqpVhost returns the vhost of an AMQP URL ("/" when the path is empty or "/").
func amqpVhost(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	p := strings.TrimPrefix(u.Path, "/")
	if p == "" {
		return "/", nil
	}
	return p, nil
}

func secretValue(s *corev1.Secret, key string) (string, bool) {
	if v, ok := s.StringData[key]; ok {
		return v, true
	}
	if v, ok := s.Data[key]; ok {
		return string(v), true
	}
	return "", false
}

func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return "<unparsable>"
}

// sameRules decodes the rule file strictly into the operator's PrometheusRuleSpec and compares it
// with the shipped PrometheusRule's spec.
func sameRules(root string, pr *monitoringv1.PrometheusRule) error {
	src, err := os.ReadFile(filepath.Join(root, rulesFile))
	if err != nil {
		return err
	}
	var want monitoringv1.PrometheusRuleSpec
	if err := yaml.UnmarshalStrict(src, &want); err != nil {
		return fmt.Errorf("%s as a PrometheusRuleSpec: %w", rulesFile, err)
	}
	if len(want.Groups) == 0 {
		return fmt.Errorf("%s: got no groups", rulesFile)
	}
	if !reflect.DeepEqual(pr.Spec, want) {
		return fmt.Errorf("spec differs from %s (%s); run make manifests", rulesFile, firstDifference(pr.Spec, want))
	}
	return nil
}

// firstDifference names the first rule that differs, for the error message.
func firstDifference(got, want monitoringv1.PrometheusRuleSpec) string {
	if len(got.Groups) != len(want.Groups) {
		return fmt.Sprintf("%d groups, want %d", len(got.Groups), len(want.Groups))
	}
	for i := range want.Groups {
		g, w := got.Groups[i], want.Groups[i]
		if len(g.Rules) != len(w.Rules) {
			return fmt.Sprintf("group %s: %d rules, want %d", w.Name, len(g.Rules), len(w.Rules))
		}
		for j := range w.Rules {
			if !reflect.DeepEqual(g.Rules[j], w.Rules[j]) {
				return fmt.Sprintf("group %s rule %s%s differs", w.Name, w.Rules[j].Alert, w.Rules[j].Record)
			}
		}
		if !reflect.DeepEqual(g, w) {
			return fmt.Sprintf("group %s differs", w.Name)
		}
	}
	return "metadata of the groups"
}

// sameDashboard compares the dashboard ConfigMap with the dashboard file and its sidecar label.
func sameDashboard(root string, cm *corev1.ConfigMap) error {
	want, err := os.ReadFile(filepath.Join(root, dashboardFile))
	if err != nil {
		return err
	}
	key := filepath.Base(dashboardFile)
	if !bytes.Equal([]byte(cm.Data[key]), want) {
		return fmt.Errorf("data[%s] differs from %s; run make manifests", key, dashboardFile)
	}
	if cm.Labels[sidecarLabel] != "1" {
		return fmt.Errorf("label %s=%q, want \"1\" (kube-prometheus-stack's Grafana sidecar default)", sidecarLabel, cm.Labels[sidecarLabel])
	}
	// A ConfigMap is limited to 1 MiB, and `kubectl apply` keeps a copy in an annotation limited
	// to 256 KiB.
	var size resource.Quantity
	size.Set(int64(len(want)))
	if len(want) > 200<<10 {
		return fmt.Errorf("dashboard is %s, want under 200 KiB (kubectl apply's last-applied annotation is limited to 256 KiB)", size.String())
	}
	return nil
}
