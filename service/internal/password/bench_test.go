package password

import "testing"

// BenchmarkHashDefault measures the production cost of one argon2id hash: it
// bounds sign-ins and user creations per core.
func BenchmarkHashDefault(b *testing.B) {
	h := NewHasher(DefaultParams)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash("granite-willow-spark-19"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPolicyCheck measures the password policy, run on every new password.
func BenchmarkPolicyCheck(b *testing.B) {
	p := NewPolicy()
	b.ReportAllocs()
	for b.Loop() {
		_ = p.Check("granite-willow-spark-19", "alice", "alice")
	}
}

// BenchmarkHashParallel hashes from many goroutines at once, as a burst of
// sign-ins does: throughput is bounded by cores and memory bandwidth.
func BenchmarkHashParallel(b *testing.B) {
	h := NewHasher(DefaultParams)
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := h.Hash("granite-willow-spark-19"); err != nil {
				b.Error(err)
			}
		}
	})
}
