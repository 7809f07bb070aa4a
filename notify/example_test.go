package notify_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tagdrift/tagdrift/notify"
	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// The payload of a tag-divergence across two clusters, as a webhook receives it: the
// reference's two digests, each with where it runs (at most MaxPlaces, then a count).
func ExampleNewPayload() {
	at := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	web := inventory.Workload{Kind: "Deployment", Name: "web"}
	m := notify.Mutation{ID: 7, DetectedAt: at, Mutation: detect.Mutation{
		Kind: detect.TagDivergence, Namespace: "", Ref: "registry.example.com/shop/web:1.4",
		Digests: []string{"sha256:1111", "sha256:2222"},
		Places: []detect.Place{
			{Cluster: "prod-eu", Namespace: "shop", Workload: web, Pod: "web-7d9f-a", Container: "web", Digest: "sha256:1111"},
			{Cluster: "prod-eu", Namespace: "shop", Workload: web, Pod: "web-7d9f-b", Container: "web", Digest: "sha256:1111"},
			{Cluster: "prod-us", Namespace: "shop", Workload: web, Pod: "web-5c4e-a", Container: "web", Digest: "sha256:2222"},
		},
	}}
	p := notify.NewPayload(notify.Event{ID: "evt_5b0c", Type: notify.MutationOpened, At: at, Group: "prod", Mutation: m},
		notify.PayloadConfig{BaseURL: "https://tagdrift.example.com", MaxPlaces: 1})
	body, err := p.Marshal()
	if err != nil {
		fmt.Println(err)
		return
	}
	var indented bytes.Buffer
	if err := json.Indent(&indented, body, "", "  "); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(indented.String())
	fmt.Print(notify.Text(p))
	// Output:
	// {
	//   "id": "evt_5b0c",
	//   "type": "mutation.opened",
	//   "timestamp": "2026-12-05T12:00:00Z",
	//   "group": "prod",
	//   "mutation": {
	//     "id": 7,
	//     "kind": "tag-divergence",
	//     "cluster": "",
	//     "namespace": "",
	//     "workload": {
	//       "kind": "",
	//       "name": ""
	//     },
	//     "container": "",
	//     "ref": "registry.example.com/shop/web:1.4",
	//     "digests": [
	//       "sha256:1111",
	//       "sha256:2222"
	//     ],
	//     "detectedAt": "2026-12-05T12:00:00Z",
	//     "resolvedAt": null,
	//     "state": "open"
	//   },
	//   "digests": [
	//     {
	//       "digest": "sha256:1111",
	//       "places": [
	//         {
	//           "cluster": "prod-eu",
	//           "namespace": "shop",
	//           "workload": {
	//             "kind": "Deployment",
	//             "name": "web"
	//           },
	//           "pod": "web-7d9f-a",
	//           "container": "web"
	//         }
	//       ],
	//       "morePlaces": 1
	//     },
	//     {
	//       "digest": "sha256:2222",
	//       "places": [
	//         {
	//           "cluster": "prod-us",
	//           "namespace": "shop",
	//           "workload": {
	//             "kind": "Deployment",
	//             "name": "web"
	//           },
	//           "pod": "web-5c4e-a",
	//           "container": "web"
	//         }
	//       ],
	//       "morePlaces": 0
	//     }
	//   ],
	//   "links": {
	//     "ui": "https://tagdrift.example.com/mutations?ref=registry.example.com%2Fshop%2Fweb%3A1.4&state=all",
	//     "api": "https://tagdrift.example.com/api/v1/mutations/7"
	//   }
	// }
	// Mutation opened: tag-divergence of registry.example.com/shop/web:1.4
	//
	// sha256:1111 on prod-eu/shop/web-7d9f-a (web), and 1 more
	// sha256:2222 on prod-us/shop/web-5c4e-a (web)
	//
	// UI: https://tagdrift.example.com/mutations?ref=registry.example.com%2Fshop%2Fweb%3A1.4&state=all
	// API: https://tagdrift.example.com/api/v1/mutations/7
}
