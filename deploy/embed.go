// Package deploy holds the manifests (kustomizations) that install tagdrift in a
// cluster and grant it read rights in the clusters it scans. The test renders them as
// `kubectl apply -k` does and applies them to a real kube-apiserver. ScannedCluster
// hands the objects of scanned-cluster/ to Go programs (the compose demo applies them
// to its k3s), so that no copy of them drifts apart.
package deploy

import (
	"bufio"
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"path"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// scannedCluster is deploy/scanned-cluster/ as built into the binary.
//
//go:embed scanned-cluster/*.yaml
var scannedCluster embed.FS

// ScannedCluster returns the objects of scanned-cluster/ (the scanner's namespace,
// read-only ServiceAccount, ClusterRole and binding, and its token Secret) in the
// order its kustomization lists its resources: what `kubectl apply -k
// deploy/scanned-cluster/` applies (TestScannedClusterEmbedded compares the two). The
// kustomization may only list resources: anything else would be left out here, so it is
// refused.
func ScannedCluster() ([]*unstructured.Unstructured, error) {
	return kustomization(scannedCluster, "scanned-cluster")
}

func kustomization(fsys embed.FS, dir string) ([]*unstructured.Unstructured, error) {
	raw, err := fsys.ReadFile(path.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	var k map[string]any
	if err := yaml.Unmarshal(raw, &k); err != nil {
		return nil, fmt.Errorf("%s/kustomization.yaml: %w", dir, err)
	}
	var resources []string
	for key, v := range k {
		switch key {
		case "apiVersion", "kind":
		case "resources":
			list, _ := v.([]any)
			for _, r := range list {
				s, ok := r.(string)
				if !ok {
					return nil, fmt.Errorf("%s/kustomization.yaml: resource %v is not a file name", dir, r)
				}
				resources = append(resources, s)
			}
		default:
			return nil, fmt.Errorf("%s/kustomization.yaml: %q is not rendered here: only resources are", dir, key)
		}
	}
	var out []*unstructured.Unstructured
	for _, name := range resources {
		b, err := fsys.ReadFile(path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		objs, err := decodeAll(b)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", dir, name, err)
		}
		out = append(out, objs...)
	}
	return out, nil
}

// decodeAll decodes the YAML documents of b, leaving out empty ones.
func decodeAll(b []byte) ([]*unstructured.Unstructured, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	var out []*unstructured.Unstructured
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
}
