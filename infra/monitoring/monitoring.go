// Package monitoring installs kube-prometheus-stack with Helm and points it at
// GopherOps: a ServiceMonitor for the service's metrics port and a
// PrometheusRule with alerts for the service, in a namespace that denies all
// traffic but what the stack needs. Like the app component it is
// plain Kubernetes and works on any cluster.
package monitoring

import (
	"fmt"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// ChartRepository is where kube-prometheus-stack is published.
const ChartRepository = "https://prometheus-community.github.io/helm-charts"

// Args configures the Monitoring component.
type Args struct {
	Provider pulumi.ProviderResource
	// Namespace for the monitoring stack; the app's NetworkPolicy admits scrapes from it.
	Namespace    string
	ChartVersion string
	// GrafanaAdminPassword replaces the chart's well-known default.
	GrafanaAdminPassword pulumi.StringInput

	// RuleGroups are extra Prometheus rule groups for the service (the
	// `groups:` list of infra/observability/prometheus/rules/*.yml).
	RuleGroups []any
	// Dashboards are Grafana dashboards by file name, loaded by the chart's
	// dashboard sidecar.
	Dashboards map[string]string

	// AppName, AppNamespace, MetricsLabels and MetricsPort identify the service's metrics Service.
	AppName       string
	AppNamespace  pulumi.StringInput
	MetricsLabels map[string]string
	MetricsPort   string
}

// Monitoring is the Helm release plus the service's scrape config and alerts.
type Monitoring struct {
	pulumi.ResourceState

	Namespace      *corev1.Namespace
	Release        *helmv3.Release
	ServiceMonitor *apiextensions.CustomResource
	Rules          *apiextensions.CustomResource
	Dashboards     *corev1.ConfigMap
}

// JobLabel is the metrics Service label whose value becomes the Prometheus
// `job` label, so cluster series carry job="gopherops" as in compose.
const JobLabel = "app.kubernetes.io/name"

// New creates the Monitoring component and its children.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Monitoring, error) {
	m := &Monitoring{}
	if err := ctx.RegisterComponentResource("gopherops:infra:Monitoring", name, m, opts...); err != nil {
		return nil, fmt.Errorf("monitoring: register component: %w", err)
	}
	base := []pulumi.ResourceOption{pulumi.Parent(m), pulumi.Provider(args.Provider)}
	var err error

	m.Namespace, err = corev1.NewNamespace(ctx, name, &corev1.NamespaceArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(args.Namespace)},
	}, base...)
	if err != nil {
		return nil, fmt.Errorf("monitoring: namespace: %w", err)
	}
	// The chart's pods start under the namespace's policies.
	policies, err := m.networkPolicies(ctx, name, args, base)
	if err != nil {
		return nil, err
	}

	m.Release, err = helmv3.NewRelease(ctx, name, &helmv3.ReleaseArgs{
		Name:           pulumi.String("kube-prometheus-stack"),
		Chart:          pulumi.String("kube-prometheus-stack"),
		Version:        pulumi.String(args.ChartVersion),
		Namespace:      m.Namespace.Metadata.Name(),
		RepositoryOpts: &helmv3.RepositoryOptsArgs{Repo: pulumi.String(ChartRepository)},
		Atomic:         pulumi.Bool(true),
		Timeout:        pulumi.Int(900),
		Values: pulumi.Map{
			"prometheus": pulumi.Map{"prometheusSpec": pulumi.Map{
				// Pick up ServiceMonitors and rules from every namespace, not
				// only those labelled for this release.
				"serviceMonitorSelectorNilUsesHelmValues": pulumi.Bool(false),
				"ruleSelectorNilUsesHelmValues":           pulumi.Bool(false),
				"retention":                               pulumi.String("10d"),
			}},
			"grafana": pulumi.Map{"adminPassword": args.GrafanaAdminPassword},
		},
	}, append(append([]pulumi.ResourceOption{}, base...), pulumi.DependsOn(policies))...)
	if err != nil {
		return nil, fmt.Errorf("monitoring: helm release: %w", err)
	}

	afterRelease := append(append([]pulumi.ResourceOption{}, base...), pulumi.DependsOn([]pulumi.Resource{m.Release}))
	m.ServiceMonitor, err = apiextensions.NewCustomResource(ctx, name+"-"+args.AppName, &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("monitoring.coreos.com/v1"),
		Kind:       pulumi.String("ServiceMonitor"),
		Metadata: &metav1.ObjectMetaArgs{
			Name:      pulumi.String(args.AppName),
			Namespace: args.AppNamespace,
		},
		OtherFields: kubernetes.UntypedArgs{
			"spec": pulumi.Map{
				"jobLabel":          pulumi.String(JobLabel),
				"selector":          pulumi.Map{"matchLabels": pulumi.ToStringMap(args.MetricsLabels)},
				"namespaceSelector": pulumi.Map{"matchNames": pulumi.Array{args.AppNamespace}},
				"endpoints": pulumi.Array{pulumi.Map{
					"port":     pulumi.String(args.MetricsPort),
					"path":     pulumi.String("/metrics"),
					"interval": pulumi.String("30s"),
				}},
			},
		},
	}, afterRelease...)
	if err != nil {
		return nil, fmt.Errorf("monitoring: service monitor: %w", err)
	}

	m.Rules, err = apiextensions.NewCustomResource(ctx, name+"-"+args.AppName+"-alerts", &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("monitoring.coreos.com/v1"),
		Kind:       pulumi.String("PrometheusRule"),
		Metadata: &metav1.ObjectMetaArgs{
			Name:      pulumi.String(args.AppName + "-alerts"),
			Namespace: args.AppNamespace,
		},
		OtherFields: kubernetes.UntypedArgs{
			"spec": args.AppNamespace.ToStringOutput().ApplyT(func(ns string) map[string]any {
				groups := append([]any{}, args.RuleGroups...)
				groups = append(groups, map[string]any{
					"name":  args.AppName + ".kubernetes",
					"rules": AlertRules(args.AppName, ns),
				})
				return map[string]any{"groups": groups}
			}),
		},
	}, afterRelease...)
	if err != nil {
		return nil, fmt.Errorf("monitoring: alert rules: %w", err)
	}

	if len(args.Dashboards) > 0 {
		// The chart's Grafana sidecar loads ConfigMaps labelled grafana_dashboard
		// from Grafana's namespace.
		m.Dashboards, err = corev1.NewConfigMap(ctx, name+"-dashboards", &corev1.ConfigMapArgs{
			Metadata: &metav1.ObjectMetaArgs{
				Namespace: m.Namespace.Metadata.Name(),
				Labels:    pulumi.StringMap{"grafana_dashboard": pulumi.String("1")},
			},
			Data: pulumi.ToStringMap(args.Dashboards),
		}, base...)
		if err != nil {
			return nil, fmt.Errorf("monitoring: dashboards: %w", err)
		}
	}

	if err := ctx.RegisterResourceOutputs(m, pulumi.Map{"namespace": m.Namespace.Metadata.Name()}); err != nil {
		return nil, fmt.Errorf("monitoring: register outputs: %w", err)
	}
	return m, nil
}

// AlertRules are the service's Kubernetes-level alerts, built on the scrape
// target and on the kube-state-metrics / cAdvisor series the chart ships; the
// service-level alerts come from RuleGroups.
func AlertRules(app, namespace string) []any {
	rule := func(alert, expr, forDur, severity, summary string) map[string]any {
		return map[string]any{
			"alert":       alert,
			"expr":        expr,
			"for":         forDur,
			"labels":      map[string]string{"severity": severity},
			"annotations": map[string]string{"summary": summary},
		}
	}
	sel := fmt.Sprintf(`namespace=%q`, namespace)
	return []any{
		rule("GopherOpsNoTargets",
			fmt.Sprintf(`absent(up{job=%q,%s} == 1)`, app, sel),
			"5m", "critical", "No GopherOps pod has been scrapeable for 5 minutes."),
		rule("GopherOpsReplicasUnavailable",
			fmt.Sprintf(`kube_deployment_status_replicas_available{deployment=%q,%s} < kube_deployment_spec_replicas{deployment=%q,%s}`, app, sel, app, sel),
			"15m", "warning", "GopherOps has had fewer available replicas than desired for 15 minutes."),
		rule("GopherOpsRestarting",
			fmt.Sprintf(`increase(kube_pod_container_status_restarts_total{container="gopherops",%s}[15m]) > 3`, sel),
			"0m", "warning", "A GopherOps container restarted more than 3 times in 15 minutes."),
		rule("GopherOpsMemoryNearLimit",
			fmt.Sprintf(`max by (pod) (container_memory_working_set_bytes{container="gopherops",%s} / on(pod) group_left kube_pod_container_resource_limits{resource="memory",container="gopherops",%s}) > 0.9`, sel, sel),
			"10m", "warning", "A GopherOps pod uses more than 90% of its memory limit."),
		rule("GopherOpsAtMaxReplicas",
			fmt.Sprintf(`kube_horizontalpodautoscaler_status_current_replicas{horizontalpodautoscaler=%q,%s} >= kube_horizontalpodautoscaler_spec_max_replicas{horizontalpodautoscaler=%q,%s}`, app, sel, app, sel),
			"30m", "warning", "GopherOps has run at its maximum replica count for 30 minutes."),
		rule("GopherOpsMigrationFailed",
			fmt.Sprintf(`kube_job_status_failed{job_name=~"%s-migrate-.*",%s} > 0`, app, sel),
			"0m", "critical", "A GopherOps migration Job failed; the new version will not roll out."),
	}
}
