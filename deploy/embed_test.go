package deploy

import (
	"reflect"
	"testing"
)

// TestScannedClusterEmbedded: what ScannedCluster gives Go programs is what
// `kubectl apply -k deploy/scanned-cluster/` applies, object for object.
func TestScannedClusterEmbedded(t *testing.T) {
	got, err := ScannedCluster()
	if err != nil {
		t.Fatal(err)
	}
	want := render(t, "scanned-cluster")
	if len(got) != len(want) || len(got) < 4 {
		t.Fatalf("%d objects embedded, kustomize renders %d", len(got), len(want))
	}
	for _, w := range want {
		g := find(got, w.GetKind(), w.GetName())
		if g == nil {
			t.Errorf("%s %s not embedded", w.GetKind(), w.GetName())
			continue
		}
		if !reflect.DeepEqual(g.Object, w.Object) {
			t.Errorf("%s %s embedded as\n%v\nkustomize renders\n%v", w.GetKind(), w.GetName(), g.Object, w.Object)
		}
	}
}
