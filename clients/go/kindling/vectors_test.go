package kindling_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	eventv1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/event/v1"
	"github.com/kindling-probe/kindling-probe/clients/go/kindling"
)

// formatVectors is clients/testdata/format.json, which the Python client's
// tests read too: both clients must print these lines for these events.
type formatVectors struct {
	BootTime time.Time `json:"boot_time"`
	Node     string    `json:"node"`
	Vectors  []struct {
		Name    string          `json:"name"`
		Event   json.RawMessage `json:"event"`
		Compact string          `json:"compact"`
		Color   string          `json:"color"`
		Table   string          `json:"table"`
		JSON    string          `json:"json"`
	} `json:"vectors"`
}

func TestSharedFormatVectors(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "format.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc formatVectors
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, v := range doc.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			ev := &eventv1.Event{}
			if err := protojson.Unmarshal(v.Event, ev); err != nil {
				t.Fatal(err)
			}
			if got := kindling.FormatCompact(ev, doc.BootTime); got != v.Compact {
				t.Errorf("compact line\n got %s\nwant %s", got, v.Compact)
			}
			if got := (kindling.CompactOptions{Color: true}).Format(ev, doc.BootTime); got != v.Color {
				t.Errorf("coloured compact line\n got %q\nwant %q", got, v.Color)
			}
			if got := kindling.FormatTableRow(ev, doc.BootTime); got != v.Table {
				t.Errorf("table row\n got %q\nwant %q", got, v.Table)
			}
			got, err := kindling.FormatJSON(ev, doc.BootTime, doc.Node)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != v.JSON {
				t.Errorf("JSON line\n got %s\nwant %s", got, v.JSON)
			}
		})
	}
}
