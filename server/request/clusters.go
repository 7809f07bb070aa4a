package request

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/tagdrift/tagdrift/scanner/kubeconfig"
)

// ClusterName is the rule for names of registered clusters: a DNS-label-like name, so
// that it is safe in URLs, logs, labels and metrics.
var ClusterName = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$`)

// Cluster settings.
const (
	DefaultScanInterval = 5 * time.Minute
	MinScanInterval     = 10 * time.Second
)

// CheckAnnotate refuses an annotate setting other than off and on.
func CheckAnnotate(s string) error {
	if s != "off" && s != "on" {
		return BadRequest("annotate must be off or on, not %q", s)
	}
	return nil
}

// Vetted is what the store keeps of a posted kubeconfig.
type Vetted struct {
	Server, Context string
	Sealed          []byte // the reduced kubeconfig, encoded for the store to seal
}

// Vetter vets the kubeconfigs posted to the API and the UI's forms against the policy
// of --cluster-kubeconfig. The router makes one and hands it to both.
type Vetter struct {
	Policy kubeconfig.Policy
}

// Vet checks a posted kubeconfig against the policy; a refusal is a
// *kubeconfig.FieldError, which Classify turns into a 400 naming the field.
func (v Vetter) Vet(raw, context string) (Vetted, error) {
	if len(raw) > MaxKubeconfig {
		return Vetted{}, Errorf(http.StatusRequestEntityTooLarge, "kubeconfig larger than %d bytes", MaxKubeconfig)
	}
	reduced, err := kubeconfig.Vet([]byte(raw), context, v.Policy)
	if err != nil {
		return Vetted{}, err
	}
	b, err := json.Marshal(reduced)
	if err != nil {
		return Vetted{}, fmt.Errorf("encode credentials: %w", err)
	}
	return Vetted{Server: reduced.Server, Context: reduced.Context, Sealed: b}, nil
}
