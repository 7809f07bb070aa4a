package notify

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pb33f/libopenapi"
	"github.com/pb33f/libopenapi-validator/schema_validation"
)

// The payloads of an acknowledgement's life, and reminders, match NotificationEvent as the OpenAPI
// document (server/api/openapi.json) gives it: the document a webhook's author reads.
func TestAcknowledgementPayloadsMatchSchema(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "server", "api", "openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := libopenapi.NewDocument(raw)
	if err != nil {
		t.Fatal(err)
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		t.Fatal(err)
	}
	proxy, ok := model.Model.Components.Schemas.Get("NotificationEvent")
	if !ok {
		t.Fatal("no NotificationEvent schema")
	}
	scope := acknowledged(PayloadConfig{})
	scope.Acknowledgement.Scope = `cluster=~"dev-.*"`
	scope.Acknowledgement.Ticket = ""
	timeless := acknowledged(PayloadConfig{})
	timeless.Acknowledgement.ExpiresAt = nil
	// A message the group wait merged carries the others in grouped.
	merged := Merge([]Payload{openedAgain(PayloadConfig{}), expected(PayloadConfig{})})
	if len(merged.Grouped) != 1 {
		t.Fatalf("merged %d more", len(merged.Grouped))
	}
	for _, p := range []Payload{acknowledged(PayloadConfig{}), scope, timeless, openedAgain(PayloadConfig{}), expected(PayloadConfig{}), merged,
		reminder(PayloadConfig{}), Merge([]Payload{reminder(PayloadConfig{}), openedAgain(PayloadConfig{})})} {
		body, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if valid, errs := schema_validation.NewSchemaValidator().ValidateSchemaBytes(proxy.Schema(), body); !valid {
			for _, ve := range errs {
				t.Errorf("%s does not match NotificationEvent: %s: %s %v", p.ID, ve.Message, ve.Reason, ve.SchemaValidationErrors)
			}
		}
	}
	// The schema refuses what it does not document: the check is not vacuous.
	bad := []byte(`{"id":"x","type":"mutation.acknowledged","timestamp":"2026-12-05T12:00:00Z","links":{"ui":"","api":""},` +
		`"mutation":{"id":1,"kind":"tag-divergence","cluster":"","namespace":"","workload":{"kind":"","name":""},"container":"",` +
		`"ref":"r","digests":[],"detectedAt":"2026-12-05T12:00:00Z","resolvedAt":null,"state":"snoozed"}}`)
	if valid, _ := schema_validation.NewSchemaValidator().ValidateSchemaBytes(proxy.Schema(), bad); valid {
		t.Error("a state the schema does not name passed")
	}
}
