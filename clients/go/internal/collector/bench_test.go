package collector

import (
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/kindling-probe/kindling-probe/clients/go/kindling"
)

// BenchmarkExchange measures one request and response on a keep-alive
// connection: the read and the write of the server, four events in all
// with the client's.
func BenchmarkExchange(b *testing.B) {
	c, err := New(sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader())), Options{})
	if err != nil {
		b.Fatal(err)
	}
	events := []kindling.Item{
		{Event: ioEvent("sendto", clientPid, clientFd(), 10, 1, get)},
		{Event: ioEvent("recvfrom", serverPid, serverFd(), 20, 1, get)},
		{Event: ioEvent("writev", serverPid, serverFd(), 30, 1, ok)},
		{Event: ioEvent("recvfrom", clientPid, clientFd(), 40, 1, ok)},
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, it := range events {
			c.Handle(it)
		}
	}
}
