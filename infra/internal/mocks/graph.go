package mocks

import (
	"slices"
	"strings"
)

// The dependency edges the engine orders deletions by: a resource is deleted
// only after every resource that depends on it, where "depends" means an
// explicit dependsOn, an input taken from another resource's output, its
// parent (children go first) or its provider (resources go before their
// provider). Independent resources are deleted in parallel, so only a path
// of such edges guarantees an order on `pulumi destroy`.

// key identifies a registration by type and logical name, the last two
// segments of its URN.
func key(typ, name string) string { return typ + "::" + name }

// urnKey is the key of a URN: urn:pulumi:<stack>::<project>::<qualified type>::<name>,
// where the qualified type is parent$...$type.
func urnKey(urn string) (string, bool) {
	parts := strings.SplitN(urn, "::", 4)
	if len(parts) != 4 {
		return "", false
	}
	qualified := parts[2]
	typ := qualified[strings.LastIndex(qualified, "$")+1:]
	return key(typ, parts[3]), true
}

// providerURN strips the ID from a provider reference ("<urn>::<id>").
func providerURN(ref string) string {
	if i := strings.LastIndex(ref, "::"); i > 0 {
		return ref[:i]
	}
	return ref
}

// edges returns, for every registration, the registrations it depends on.
func (m *Monitor) edges() map[*Registration][]*Registration {
	regs := m.All()
	byKey := make(map[string]*Registration, len(regs))
	for _, r := range regs {
		byKey[key(r.Type, r.Name)] = r
	}
	out := make(map[*Registration][]*Registration, len(regs))
	for _, r := range regs {
		urns := append([]string(nil), r.Dependencies...)
		if r.Parent != "" {
			urns = append(urns, r.Parent)
		}
		if r.Provider != "" {
			urns = append(urns, providerURN(r.Provider))
		}
		for _, urn := range urns {
			k, ok := urnKey(urn)
			if !ok {
				continue
			}
			if dep := byKey[k]; dep != nil && dep != r && !slices.Contains(out[r], dep) {
				out[r] = append(out[r], dep)
			}
		}
	}
	return out
}

// DestroyedBefore reports whether `pulumi destroy` is guaranteed to delete a
// before b: a depends on b through a path of dependency, parent or provider
// edges. Without such a path the engine may delete them in either order, or
// at the same time.
func (m *Monitor) DestroyedBefore(a, b *Registration) bool {
	if a == nil || b == nil || a == b {
		return false
	}
	edges := m.edges()
	seen := map[*Registration]bool{a: true}
	stack := []*Registration{a}
	for len(stack) > 0 {
		cur := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, dep := range edges[cur] {
			if dep == b {
				return true
			}
			if !seen[dep] {
				seen[dep] = true
				stack = append(stack, dep)
			}
		}
	}
	return false
}

// DestroyOrder is one order in which the engine may delete everything, as it
// does without parallelism: a resource once nothing left depends on it, the
// most recently registered first among those. Every pair DestroyedBefore
// reports keeps its order here.
func (m *Monitor) DestroyOrder() []*Registration {
	edges := m.edges()
	regs := m.All()
	dependents := make(map[*Registration]int, len(regs))
	for _, r := range regs {
		for _, dep := range edges[r] {
			dependents[dep]++
		}
	}
	deleted := make(map[*Registration]bool, len(regs))
	order := make([]*Registration, 0, len(regs))
	for len(order) < len(regs) {
		progressed := false
		for i := len(regs) - 1; i >= 0; i-- {
			r := regs[i]
			if deleted[r] || dependents[r] > 0 {
				continue
			}
			deleted[r] = true
			order = append(order, r)
			for _, dep := range edges[r] {
				dependents[dep]--
			}
			progressed = true
			break
		}
		if !progressed {
			// A cycle cannot come out of a Pulumi program; keep what remains
			// in reverse registration order rather than loop.
			for i := len(regs) - 1; i >= 0; i-- {
				if !deleted[regs[i]] {
					order = append(order, regs[i])
				}
			}
		}
	}
	return order
}
