package app

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/gopherops/gopherops/infra/quantity"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Quota bounds what the namespace may hold, so that one pull request's
// stack cannot starve the shared cluster: a ResourceQuota on the totals and
// a LimitRange on each container (with defaults for a container that sets
// none, such as a debugging pod).
type Quota struct {
	RequestsCPU    string
	RequestsMemory string
	LimitsCPU      string
	LimitsMemory   string
	// Storage is the total of the PersistentVolumeClaims' requests.
	Storage string
	// Pods counts the pods that are not finished.
	Pods int
	// ContainerMaxCPU and ContainerMaxMemory bound every container.
	ContainerMaxCPU    string
	ContainerMaxMemory string
}

// postgresRequests and postgresLimits size the in-cluster database's container.
var (
	postgresRequests = map[string]string{"cpu": "100m", "memory": "128Mi"}
	postgresLimits   = map[string]string{"cpu": "1", "memory": "512Mi"}
)

// footprint is what the component's pods ask for at their peak: a rollout
// (one server pod above the maximum), the migration Job, the database, a
// backup and a restore running at once.
type footprint struct {
	requestsCPU, limitsCPU       int64 // millicores
	requestsMemory, limitsMemory int64 // bytes
	storage                      int64
	pods, claims                 int
	// widest are the largest single container's limits.
	widestCPU, widestMemory int64
}

func (f *footprint) add(n int, requests, limits map[string]string) error {
	rc, err := quantity.CPUMillis(requests["cpu"])
	if err != nil {
		return err
	}
	lc, err := quantity.CPUMillis(limits["cpu"])
	if err != nil {
		return err
	}
	rm, err := quantity.MemoryBytes(requests["memory"])
	if err != nil {
		return err
	}
	lm, err := quantity.MemoryBytes(limits["memory"])
	if err != nil {
		return err
	}
	f.requestsCPU += int64(n) * rc
	f.limitsCPU += int64(n) * lc
	f.requestsMemory += int64(n) * rm
	f.limitsMemory += int64(n) * lm
	f.widestCPU = max(f.widestCPU, lc)
	f.widestMemory = max(f.widestMemory, lm)
	return nil
}

func (f *footprint) claim(size string) error {
	n, err := quantity.MemoryBytes(size)
	if err != nil {
		return err
	}
	f.storage += n
	f.claims++
	return nil
}

// larger is the larger of two resource lists for each resource (values
// that do not parse are kept from a, and reported by add).
func larger(a, b map[string]string) map[string]string {
	out := map[string]string{"cpu": a["cpu"], "memory": a["memory"]}
	if x, errA := quantity.CPUMillis(a["cpu"]); errA == nil {
		if y, errB := quantity.CPUMillis(b["cpu"]); errB == nil && y > x {
			out["cpu"] = b["cpu"]
		}
	}
	if x, errA := quantity.MemoryBytes(a["memory"]); errA == nil {
		if y, errB := quantity.MemoryBytes(b["memory"]); errB == nil && y > x {
			out["memory"] = b["memory"]
		}
	}
	return out
}

// peak is the component's footprint for a.
func peak(a *Args) (footprint, error) {
	var f footprint
	server := map[string]string{"cpu": a.Resources.CPURequest, "memory": a.Resources.MemoryRequest}
	serverLimits := map[string]string{"cpu": a.Resources.CPULimit, "memory": a.Resources.MemoryLimit}
	// The servers during a rollout (maxSurge 1) and the migration Job.
	pods := a.MaxReplicas + 2
	errs := []error{f.add(pods, server, serverLimits)}
	if db := a.InClusterDatabase; db != nil {
		pods++
		errs = append(errs, f.add(1, postgresRequests, postgresLimits), f.claim(db.StorageSize))
		if bk := db.Backup; bk != nil {
			pods++
			errs = append(errs, f.add(1, backupRequests, backupLimits), f.claim(bk.StorageSize))
			if bk.RestoreFrom != "" {
				// The restore pod: its init container, then migrate; the
				// larger of the two counts for each resource.
				pods++
				errs = append(errs, f.add(1, larger(server, backupRequests), larger(serverLimits, backupLimits)))
			}
		}
	}
	if v := a.BlobVolume; v != nil {
		errs = append(errs, f.claim(v.Size))
	}
	f.pods = pods
	return f, errors.Join(errs...)
}

// checkQuota refuses a quota the component itself would not fit in: the
// rollout would then stall on "exceeded quota" in the middle of an update.
func (a *Args) checkQuota() error {
	q := a.Quota
	f, err := peak(a)
	if err != nil {
		return fmt.Errorf("quota: %w", err)
	}
	var errs []error
	cpu := func(what, v string, need int64) {
		have, err := quantity.CPUMillis(v)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("quota %s: %w", what, err))
		case have < need:
			errs = append(errs, fmt.Errorf("quota %s %s is below the %dm the stack needs at its peak", what, v, need))
		}
	}
	mem := func(what, v string, need int64) {
		have, err := quantity.MemoryBytes(v)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("quota %s: %w", what, err))
		case have < need:
			errs = append(errs, fmt.Errorf("quota %s %s is below the %dMi the stack needs at its peak", what, v, need>>20))
		}
	}
	cpu("requests.cpu", q.RequestsCPU, f.requestsCPU)
	cpu("limits.cpu", q.LimitsCPU, f.limitsCPU)
	mem("requests.memory", q.RequestsMemory, f.requestsMemory)
	mem("limits.memory", q.LimitsMemory, f.limitsMemory)
	mem("requests.storage", q.Storage, f.storage)
	cpu("container max cpu", q.ContainerMaxCPU, f.widestCPU)
	mem("container max memory", q.ContainerMaxMemory, f.widestMemory)
	if q.Pods < f.pods {
		errs = append(errs, fmt.Errorf("quota pods %d is below the %d pods the stack runs at its peak", q.Pods, f.pods))
	}
	return errors.Join(errs...)
}

// quota creates the namespace's ResourceQuota and LimitRange; every later
// resource of the component waits for them, so no pod is admitted before
// the bounds exist.
func (b *builder) quota() error {
	q := b.args.Quota
	if q == nil {
		return nil
	}
	f, err := peak(&b.args)
	if err != nil {
		return fmt.Errorf("quota: %w", err)
	}
	hard := pulumi.StringMap{
		"requests.cpu":           pulumi.String(q.RequestsCPU),
		"requests.memory":        pulumi.String(q.RequestsMemory),
		"limits.cpu":             pulumi.String(q.LimitsCPU),
		"limits.memory":          pulumi.String(q.LimitsMemory),
		"requests.storage":       pulumi.String(q.Storage),
		"persistentvolumeclaims": pulumi.String(strconv.Itoa(f.claims)),
		"pods":                   pulumi.String(strconv.Itoa(q.Pods)),
		"services.loadbalancers": pulumi.String("1"),
	}
	rq, err := corev1.NewResourceQuota(b.ctx, b.name, &corev1.ResourceQuotaArgs{
		Metadata: b.meta(b.args.Name, "quota", nil),
		Spec:     &corev1.ResourceQuotaSpecArgs{Hard: hard},
	}, b.opts...)
	if err != nil {
		return fmt.Errorf("resource quota: %w", err)
	}
	maxima := pulumi.StringMap{"cpu": pulumi.String(q.ContainerMaxCPU), "memory": pulumi.String(q.ContainerMaxMemory)}
	lr, err := corev1.NewLimitRange(b.ctx, b.name, &corev1.LimitRangeArgs{
		Metadata: b.meta(b.args.Name, "quota", nil),
		Spec: &corev1.LimitRangeSpecArgs{Limits: corev1.LimitRangeItemArray{
			corev1.LimitRangeItemArgs{
				Type: pulumi.String("Container"),
				Max:  maxima,
				// A container that says nothing gets the server's size.
				Default: pulumi.StringMap{
					"cpu": pulumi.String(b.args.Resources.CPULimit), "memory": pulumi.String(b.args.Resources.MemoryLimit),
				},
				DefaultRequest: pulumi.StringMap{
					"cpu": pulumi.String(b.args.Resources.CPURequest), "memory": pulumi.String(b.args.Resources.MemoryRequest),
				},
			},
			corev1.LimitRangeItemArgs{
				Type: pulumi.String("PersistentVolumeClaim"),
				Max:  pulumi.StringMap{"storage": pulumi.String(q.Storage)},
			},
		}},
	}, b.opts...)
	if err != nil {
		return fmt.Errorf("limit range: %w", err)
	}
	b.app.ResourceQuota, b.app.LimitRange = rq, lr
	b.opts = append(b.opts, pulumi.DependsOn([]pulumi.Resource{rq, lr}))
	return nil
}
