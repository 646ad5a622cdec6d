package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Provisioner is the name the node's StorageClass gives its volumes: a
// volume claim of the class gets a hostPath volume of its own, created for
// it and deleted with it (reclaim policy Delete), so that whatever a test
// deploys and destroys leaves no volume behind, as on a real cluster.
const Provisioner = "gopherops.dev/node-hostpath"

// provisionedBy is the annotation a provisioner puts on its volumes.
const provisionedBy = "pv.kubernetes.io/provisioned-by"

// claim is what the provisioner reads of a PersistentVolumeClaim.
type claim struct {
	Metadata struct {
		Namespace, Name, UID string
		DeletionTimestamp    *string
	}
	Spec struct {
		StorageClassName *string
		VolumeName       string
		AccessModes      []string
		Resources        struct {
			Requests map[string]string
		}
	}
	Status struct{ Phase string }
}

// volume is what the provisioner reads of a PersistentVolume.
type volume struct {
	Metadata struct {
		Name        string
		Annotations map[string]string
	}
	Spec struct {
		HostPath *struct{ Path string }
	}
	Status struct{ Phase string }
}

// provision runs until the node stops (or ctx ends): every second it gives
// each pending claim of the node's class a volume, and deletes the volumes of
// ours that their claims released (and their directories).
func (n *Node) provision(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		<-n.done
		cancel()
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if err := n.provisionOnce(ctx); err != nil && ctx.Err() == nil {
			n.log("node: volume provisioner: %v", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// provisionOnce is one pass of the provisioner.
func (n *Node) provisionOnce(ctx context.Context) error {
	var claims struct{ Items []claim }
	if err := n.api.do(ctx, http.MethodGet, "/api/v1/persistentvolumeclaims", nil, &claims); err != nil {
		return err
	}
	var errs []error
	for _, c := range claims.Items {
		class := c.Spec.StorageClassName
		if c.Status.Phase != "Pending" || c.Spec.VolumeName != "" || c.Metadata.DeletionTimestamp != nil ||
			class == nil || *class != StorageClassName {
			continue
		}
		errs = append(errs, n.createVolume(ctx, c))
	}
	var volumes struct{ Items []volume }
	if err := n.api.do(ctx, http.MethodGet, "/api/v1/persistentvolumes", nil, &volumes); err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, v := range volumes.Items {
		if v.Metadata.Annotations[provisionedBy] != Provisioner || (v.Status.Phase != "Released" && v.Status.Phase != "Failed") {
			continue
		}
		errs = append(errs, n.deleteVolume(ctx, v))
	}
	return errors.Join(errs...)
}

// createVolume makes a directory and a volume bound to c ahead of time.
func (n *Node) createVolume(ctx context.Context, c claim) error {
	size := c.Spec.Resources.Requests["storage"]
	if size == "" {
		return fmt.Errorf("claim %s/%s requests no storage", c.Metadata.Namespace, c.Metadata.Name)
	}
	name := "pvc-" + c.Metadata.UID
	dir := filepath.Join(n.p.volumes, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	// Pods run as their own non-root users and hostPath volumes get no
	// fsGroup treatment: the directory is open to them.
	if err := os.Chmod(dir, 0o777); err != nil { //nolint:gosec // a throwaway volume of a test node
		return fmt.Errorf("node: %w", err)
	}
	modes := c.Spec.AccessModes
	if len(modes) == 0 {
		modes = []string{"ReadWriteOnce"}
	}
	pv := map[string]any{
		"apiVersion": "v1", "kind": "PersistentVolume",
		"metadata": map[string]any{
			"name":        name,
			"labels":      map[string]string{"app.kubernetes.io/managed-by": "gopherops-platform-node"},
			"annotations": map[string]string{provisionedBy: Provisioner},
		},
		"spec": map[string]any{
			"capacity":                      map[string]string{"storage": size},
			"accessModes":                   modes,
			"persistentVolumeReclaimPolicy": "Delete",
			"storageClassName":              StorageClassName,
			"hostPath":                      map[string]string{"path": dir, "type": "Directory"},
			"claimRef": map[string]string{
				"apiVersion": "v1", "kind": "PersistentVolumeClaim",
				"namespace": c.Metadata.Namespace, "name": c.Metadata.Name, "uid": c.Metadata.UID,
			},
		},
	}
	err := n.api.create(ctx, "/api/v1/persistentvolumes", pv)
	if err != nil && strings.Contains(err.Error(), "409 Conflict") {
		return nil // made on an earlier pass; the binder has not caught up yet
	}
	return err
}

// deleteVolume removes a released volume's directory, then the volume.
func (n *Node) deleteVolume(ctx context.Context, v volume) error {
	if v.Spec.HostPath != nil {
		dir := filepath.Clean(v.Spec.HostPath.Path)
		// Only directories of this node's volume tree are ever removed.
		if filepath.Dir(dir) != filepath.Clean(n.p.volumes) {
			return fmt.Errorf("node: volume %s points at %s, outside %s", v.Metadata.Name, dir, n.p.volumes)
		}
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("node: %w", err)
		}
	}
	return n.api.remove(ctx, "/api/v1/persistentvolumes/"+url.PathEscape(v.Metadata.Name))
}

// removeVolumes deletes every volume the provisioner made (at teardown,
// with the node's directory tree).
func (n *Node) removeVolumes(ctx context.Context) error {
	var volumes struct{ Items []volume }
	if err := n.api.do(ctx, http.MethodGet, "/api/v1/persistentvolumes", nil, &volumes); err != nil {
		return err
	}
	var errs []error
	for _, v := range volumes.Items {
		if v.Metadata.Annotations[provisionedBy] == Provisioner {
			errs = append(errs, n.api.remove(ctx, "/api/v1/persistentvolumes/"+url.PathEscape(v.Metadata.Name)))
		}
	}
	return errors.Join(errs...)
}
