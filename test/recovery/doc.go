// Package recovery proves the backup and restore programs of the in-cluster
// database (infra/app's backup CronJob and restore Job) against a real
// PostgreSQL with the real client tools, and the recovery of an avatar from
// bucket versioning against a real S3-compatible server. The Kubernetes
// half, with pods, is the platform suite's recovery drill (test/platform).
package recovery
