package kubeenv

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// DeleteFromEtcd deletes an object's key in etcd, past the API server: a change made
// while the API server is down (StopAPIServer), as another API server of the same
// control plane would make it. resource is the API's plural (pods, replicasets); a
// cluster-scoped object has no namespace.
func (c *Cluster) DeleteFromEtcd(ctx context.Context, resource, namespace, name string) error {
	key := c.etcdPrefix + "/" + resource + "/"
	if namespace != "" {
		key += namespace + "/"
	}
	key += name
	var out struct {
		Deleted string `json:"deleted"`
	}
	if err := c.etcd(ctx, "/v3/kv/deleterange", map[string]any{"key": []byte(key)}, &out); err != nil {
		return fmt.Errorf("delete %s from etcd: %w", key, err)
	}
	if out.Deleted != "1" {
		return fmt.Errorf("delete %s from etcd: no such key", key)
	}
	return nil
}

// CompactEtcd compacts etcd's history up to its current revision (physically, so it
// is done when CompactEtcd returns) and returns that revision: a watch that resumes
// from an older revision is then refused with 410 Gone, unless the API server's watch
// cache answers it (ClusterOptions.NoWatchCache). The etcd is the environment's, so
// every cluster of it is compacted.
func (c *Cluster) CompactEtcd(ctx context.Context) (int64, error) {
	var rng struct {
		Header struct {
			Revision string `json:"revision"`
		} `json:"header"`
	}
	if err := c.etcd(ctx, "/v3/kv/range", map[string]any{"key": []byte(c.etcdPrefix), "count_only": true}, &rng); err != nil {
		return 0, fmt.Errorf("etcd revision: %w", err)
	}
	rev, err := strconv.ParseInt(rng.Header.Revision, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("etcd revision %q: %w", rng.Header.Revision, err)
	}
	if err := c.etcd(ctx, "/v3/kv/compaction", map[string]any{"revision": strconv.FormatInt(rev, 10), "physical": true}, nil); err != nil {
		return 0, fmt.Errorf("compact etcd at %d: %w", rev, err)
	}
	return rev, nil
}

// etcd posts a request to etcd's JSON gateway (keys are bytes, base64 in JSON) and
// decodes the answer into out.
func (c *Cluster) etcd(ctx context.Context, path string, in map[string]any, out any) error {
	for k, v := range in {
		if b, ok := v.([]byte); ok {
			in[k] = base64.StdEncoding.EncodeToString(b)
		}
	}
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.etcdURL+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s %s", path, resp.Status, b.String())
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b.Bytes(), out)
}
