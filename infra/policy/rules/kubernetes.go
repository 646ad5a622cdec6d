package rules

import (
	"regexp"
	"slices"
	"strings"
)

// Controls the Kubernetes policies enforce.
const (
	pssRestricted = "https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted"
	pssBaseline   = "https://kubernetes.io/docs/concepts/security/pod-security-standards/#baseline"
	// nsaHardening is the NSA/CISA Kubernetes Hardening Guidance (v1.2).
	nsaHardening = "https://media.defense.gov/2022/Aug/29/2003066362/-1/-1/0/CTR_KUBERNETES_HARDENING_GUIDANCE_1.2_20220829.PDF"
	// cisKubernetes is the CIS Kubernetes Benchmark (5.3.2: every namespace has network policies).
	cisKubernetes = "https://www.cisecurity.org/benchmark/kubernetes"
	imageDigests  = "https://kubernetes.io/docs/concepts/containers/images/#image-names"
	lbcService    = "https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/service/nlb/"
)

// LoadBalancerClass is the AWS Load Balancer Controller's class for NLBs,
// the only way a LoadBalancer Service may reach the internet on EKS.
const LoadBalancerClass = "service.k8s.aws/nlb"

// digestRef is an image reference pinned by digest.
var digestRef = regexp.MustCompile(`@sha256:[a-f0-9]{64}$`)

// workloadGroups are the API groups whose kinds below run pods.
var workloadGroups = []string{"core", "apps", "batch", "extensions"}

// podSpec is the spec of the pods r runs, and false when r runs none.
func podSpec(r *Resource) (field, bool) {
	if !r.isKubernetes() {
		return field{}, false
	}
	// kubernetes:<group>/<version>:<Kind>; the core group is "core".
	parts := strings.Split(r.Type, ":")
	if len(parts) != 3 {
		return field{}, false
	}
	group, _, _ := strings.Cut(parts[1], "/")
	if !slices.Contains(workloadGroups, group) {
		return field{}, false
	}
	p := r.props()
	switch parts[2] {
	case "Pod":
		return p.get("spec"), true
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job":
		return p.at("spec", "template", "spec"), true
	case "CronJob":
		return p.at("spec", "jobTemplate", "spec", "template", "spec"), true
	}
	return field{}, false
}

// container is one container of a pod spec, with the pod's security context.
type container struct {
	name string
	f    field
	pod  field // the pod's securityContext
}

// sc is the container's securityContext member key.
func (c container) sc(keys ...string) field {
	return c.f.at(append([]string{"securityContext"}, keys...)...)
}

// effective is the container's security setting, else the pod's.
func (c container) effective(key string) field {
	if own := c.sc(key); own.present() {
		return own
	}
	return c.pod.get(key)
}

// containers lists the containers and init containers of r's pods; ok is
// false when r runs no pods. A container list the preview does not know yet
// is recorded as unknown.
func containers(r *Resource, c *Check) (out []container, ok bool) {
	spec, ok := podSpec(r)
	if !ok {
		return nil, false
	}
	if spec.unknown() {
		c.Unknown(spec.path)
		return nil, true
	}
	podSC := spec.get("securityContext")
	for _, key := range []string{"initContainers", "containers"} {
		list := spec.get(key)
		if list.unknown() {
			c.Unknown(list.path)
			continue
		}
		for _, f := range list.items() {
			name, _ := f.get("name").str()
			if name == "" {
				name = f.path
			}
			out = append(out, container{name: name, f: f, pod: podSC})
		}
	}
	return out, true
}

// eachContainer runs fn for every container of r's pods.
func eachContainer(r *Resource, c *Check, fn func(ctr container)) {
	ctrs, _ := containers(r, c)
	for _, ctr := range ctrs {
		fn(ctr)
	}
}

func runAsNonRoot(_ Env, r *Resource, c *Check) {
	eachContainer(r, c, func(ctr container) {
		c.requireBool(ctr.effective("runAsNonRoot"), true, "container "+ctr.name+" must run as non-root")
		user := ctr.effective("runAsUser")
		if user.unknown() {
			c.Unknown(user.path)
		} else if uid, ok := user.number(); ok && uid == 0 {
			c.Failf("container %s runs as user 0 (%s)", ctr.name, user.path)
		}
	})
}

func readOnlyRootFilesystem(_ Env, r *Resource, c *Check) {
	eachContainer(r, c, func(ctr container) {
		c.requireBool(ctr.sc("readOnlyRootFilesystem"), true, "container "+ctr.name+" must have a read-only root filesystem")
	})
}

func noPrivilegeEscalation(_ Env, r *Resource, c *Check) {
	eachContainer(r, c, func(ctr container) {
		c.requireBool(ctr.sc("allowPrivilegeEscalation"), false, "container "+ctr.name+" must not allow privilege escalation")
	})
}

// allowedAddedCapabilities are what the restricted profile lets a container add.
var allowedAddedCapabilities = []string{"NET_BIND_SERVICE"}

func dropAllCapabilities(_ Env, r *Resource, c *Check) {
	eachContainer(r, c, func(ctr container) {
		drop := ctr.sc("capabilities", "drop")
		dropped, unknown := drop.strings()
		if unknown && !slices.Contains(dropped, "ALL") {
			c.Unknown(drop.path)
		} else if !slices.Contains(dropped, "ALL") {
			c.Failf("container %s must drop ALL capabilities: %s is %v", ctr.name, drop.path, dropped)
		}
		add := ctr.sc("capabilities", "add")
		added, unknown := add.strings()
		if unknown {
			c.Unknown(add.path)
		}
		for _, capability := range added {
			if !slices.Contains(allowedAddedCapabilities, capability) {
				c.Failf("container %s adds capability %s (%s)", ctr.name, capability, add.path)
			}
		}
	})
}

func seccompRuntimeDefault(_ Env, r *Resource, c *Check) {
	eachContainer(r, c, func(ctr container) {
		profile := ctr.sc("seccompProfile")
		if !profile.present() {
			profile = ctr.pod.get("seccompProfile")
		}
		typ := profile.get("type")
		if typ.unknown() {
			c.Unknown(typ.path)
			return
		}
		if s, _ := typ.str(); s != "RuntimeDefault" {
			c.Failf("container %s must use the RuntimeDefault seccomp profile: %s is %s", ctr.name, typ.path, show(typ))
		}
	})
}

func resourceLimits(_ Env, r *Resource, c *Check) {
	eachContainer(r, c, func(ctr container) {
		for _, kind := range []string{"requests", "limits"} {
			for _, res := range []string{"cpu", "memory"} {
				f := ctr.f.at("resources", kind, res)
				switch {
				case f.unknown():
					c.Unknown(f.path)
				case !f.present():
					c.Failf("container %s has no %s %s (%s)", ctr.name, res, strings.TrimSuffix(kind, "s"), f.path)
				}
			}
		}
	})
}

// nodeLocalRegistry matches an image of a ".local" domain: no registry
// serves such a name (RFC 6762 reserves the domain), so the image can only
// have been imported into the node, the way local clusters load images.
var nodeLocalRegistry = regexp.MustCompile(`^[a-z0-9-]+(\.[a-z0-9-]+)*\.local(:[0-9]+)?/`)

// imageDigest: every image is pinned by digest. An image imported into the
// node (a .local name, as local clusters and the platform suite load them)
// may go by tag, provided the node never tries to pull it (imagePullPolicy
// not Always): no registry can move a tag it does not serve.
func imageDigest(_ Env, r *Resource, c *Check) {
	eachContainer(r, c, func(ctr container) {
		img := ctr.f.get("image")
		if img.unknown() {
			c.Unknown(img.path)
			return
		}
		ref, _ := img.str()
		if digestRef.MatchString(ref) {
			return
		}
		if nodeLocalRegistry.MatchString(ref) {
			policy := ctr.f.get("imagePullPolicy")
			if policy.unknown() {
				c.Unknown(policy.path)
				return
			}
			if p, _ := policy.str(); p == "IfNotPresent" || p == "Never" {
				return
			}
			c.Failf("container %s image %s is imported into the node but %s is %s: the node would try to pull it",
				ctr.name, show(img), policy.path, show(policy))
			return
		}
		c.Failf("container %s image %s is not pinned by digest (<repository>@sha256:<digest>)", ctr.name, show(img))
	})
}

func noHostPath(_ Env, r *Resource, c *Check) {
	spec, ok := podSpec(r)
	if !ok {
		return
	}
	vols := spec.get("volumes")
	if vols.unknown() {
		c.Unknown(vols.path)
		return
	}
	for _, v := range vols.items() {
		if v.unknown() {
			c.Unknown(v.path)
			continue
		}
		// A hostPath key is a host path volume whatever its (maybe unknown) value.
		if hp := v.get("hostPath"); hp.present() {
			name, _ := v.get("name").str()
			c.Failf("volume %s mounts a host path (%s)", name, hp.path)
		}
	}
}

func noHostNamespaces(_ Env, r *Resource, c *Check) {
	spec, ok := podSpec(r)
	if !ok {
		return
	}
	for _, key := range []string{"hostNetwork", "hostPID", "hostIPC"} {
		f := spec.get(key)
		if f.unknown() {
			c.Unknown(f.path)
		} else if on, _ := f.boolean(); on {
			c.Failf("the pods share the host's namespaces: %s is true", f.path)
		}
	}
}

func noPrivileged(_ Env, r *Resource, c *Check) {
	eachContainer(r, c, func(ctr container) {
		f := ctr.sc("privileged")
		if f.unknown() {
			c.Unknown(f.path)
		} else if on, _ := f.boolean(); on {
			c.Failf("container %s is privileged (%s)", ctr.name, f.path)
		}
	})
}

// loadBalancerClass: on AWS a LoadBalancer Service goes through the AWS Load
// Balancer Controller (NLB with IP targets, TLS and the subnets it is told);
// the in-tree controller would make a Classic Load Balancer nobody
// configured. Local clusters (kind, k3d, minikube) have no such controller.
func loadBalancerClass(e Env, r *Resource, c *Check) {
	if r.Type != "kubernetes:core/v1:Service" || e.Environment == "local" {
		return
	}
	typ := r.props().at("spec", "type")
	if typ.unknown() {
		c.Unknown(typ.path)
		return
	}
	if s, _ := typ.str(); s != "LoadBalancer" {
		return
	}
	class := r.props().at("spec", "loadBalancerClass")
	if class.unknown() {
		c.Unknown(class.path)
		return
	}
	if s, _ := class.str(); s != LoadBalancerClass {
		c.Failf("a LoadBalancer Service must use the class %s: %s is %s", LoadBalancerClass, class.path, show(class))
	}
}

// defaultDeny: every namespace the stack creates holds a NetworkPolicy that
// selects every pod and allows nothing, for ingress and egress; the
// workloads' own policies then open exactly what they need.
func defaultDeny(_ Env, rs []*Resource, report func(*Resource) *Check) {
	var policies []*Resource
	for _, r := range rs {
		if r.Type == "kubernetes:networking.k8s.io/v1:NetworkPolicy" {
			policies = append(policies, r)
		}
	}
	for _, ns := range rs {
		if ns.Type != "kubernetes:core/v1:Namespace" {
			continue
		}
		name := ns.props().at("metadata", "name")
		var unknown []string
		found := false
		for _, np := range policies {
			npNS := np.props().at("metadata", "namespace")
			switch nsName, ok := name.str(); {
			case npNS.unknown() || name.unknown():
				// Matched through what the namespace was computed from.
				if !np.dependsOn("metadata", ns.URN) {
					continue
				}
			case !ok:
				continue
			default:
				if s, _ := npNS.str(); s != nsName {
					continue
				}
			}
			ok, paths := isDefaultDeny(np)
			if ok {
				found = true
				break
			}
			unknown = append(unknown, paths...)
		}
		if found {
			continue
		}
		c := report(ns)
		if len(unknown) > 0 {
			for _, p := range unknown {
				c.Unknown(p)
			}
			continue
		}
		c.Failf("namespace %s has no default-deny NetworkPolicy (podSelector {}, policyTypes Ingress and Egress, no rules)", show(name))
	}
}

// isDefaultDeny reports whether np selects every pod and denies all ingress
// and egress; unknown lists the properties the preview does not know yet.
func isDefaultDeny(np *Resource) (ok bool, unknown []string) {
	spec := np.props().get("spec")
	if spec.unknown() {
		return false, []string{spec.path}
	}
	sel := spec.get("podSelector")
	for _, k := range []string{"matchLabels", "matchExpressions"} {
		f := sel.get(k)
		if f.unknown() {
			unknown = append(unknown, f.path)
		} else if f.present() && (len(f.items()) > 0 || (f.v.IsMap() && f.v.AsMap().Len() > 0)) {
			return false, nil
		}
	}
	types, unk := spec.get("policyTypes").strings()
	if unk {
		unknown = append(unknown, spec.get("policyTypes").path)
	} else if !slices.Contains(types, "Ingress") || !slices.Contains(types, "Egress") {
		return false, nil
	}
	for _, k := range []string{"ingress", "egress"} {
		f := spec.get(k)
		if f.unknown() {
			unknown = append(unknown, f.path)
		} else if len(f.items()) > 0 {
			return false, nil
		}
	}
	return len(unknown) == 0, unknown
}
