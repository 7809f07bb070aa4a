package receivers

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// NowhereConfig is an alertmanager.yml with one receiver that sends nowhere.
const NowhereConfig = "route:\n  receiver: nowhere\nreceivers:\n  - name: nowhere\n"

// StartAlertmanager runs a real Alertmanager (one instance, no cluster) with config
// (alertmanager.yml; NowhereConfig when empty) until the test ends, and returns its
// root URL.
func StartAlertmanager(t testing.TB, config string) string {
	t.Helper()
	bin := Binary(t, "alertmanager")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	if config == "" {
		config = NowhereConfig
	}
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	port := FreePort(t)
	root := "http://" + Addr(port)
	StartProcess(t, bin, root+"/-/ready",
		"--config.file="+cfg, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+Addr(port), "--cluster.listen-address=")
	return root
}

// Alert is what Alertmanager's API says of an alert.
type Alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
}

// ActiveAlerts lists the active alerts that the Alertmanager at root holds now and that
// match filter (a matcher such as `mutation_id="7"`; "" for all).
func ActiveAlerts(t testing.TB, root string, filter string) []Alert {
	t.Helper()
	q := url.Values{"active": {"true"}}
	if filter != "" {
		q.Set("filter", filter)
	}
	resp, err := http.Get(root + "/api/v2/alerts?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET alerts: %d", resp.StatusCode)
	}
	var out []Alert
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}
