// Package request holds what the API (server/api) and the web UI (server/ui) both need
// to read a request and answer it: query parsing with its limits, cursors bound to their
// list and filters, the list rules of the resources both show (workloads, mutations,
// timelines, digests), the rules of a cluster's settings and the vetting of posted
// kubeconfigs, body decoding, and the one mapping from errors to HTTP statuses
// (Classify), which the API writes as RFC 9457 problems (Fail) and the UI as error
// pages. It holds no state: everything here is a function of the request.
package request
