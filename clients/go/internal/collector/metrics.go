package collector

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"

	probev1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/probe/v1"
)

// ScopeName is the instrumentation scope of the collector's metrics.
const ScopeName = "github.com/kindling-probe/kindling-probe/clients/go/cmd/kindling-collector"

// DurationBuckets are the explicit bucket bounds, in seconds, of every
// duration histogram.
var DurationBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// instruments are the collector's metrics.
type instruments struct {
	httpServer, httpClient metric.Float64Histogram

	connects        metric.Int64Counter
	connectDuration metric.Float64Histogram
	retransmits     metric.Int64Counter
	resets          metric.Int64Counter
	drops           metric.Int64Counter
	srtt            metric.Float64Histogram

	// events counts in received, which an observable counter reads: one
	// recording per event would cost more than the event's handling.
	received    atomic.Uint64
	lost        metric.Int64Counter
	breaks      metric.Int64Counter
	unmatched   metric.Int64Counter
	parseErrors metric.Int64Counter
}

func newInstruments(mp metric.MeterProvider, version string) (*instruments, error) {
	m := mp.Meter(ScopeName, metric.WithInstrumentationVersion(version))
	var errs []error
	histogram := func(name, desc string) metric.Float64Histogram {
		h, err := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
			metric.WithExplicitBucketBoundaries(DurationBuckets...))
		errs = append(errs, err)
		return h
	}
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	ins := &instruments{
		httpServer: histogram("http.server.request.duration", "Duration of HTTP server requests, from the read of the request to the write of the response."),
		httpClient: histogram("http.client.request.duration", "Duration of HTTP client requests, from the write of the request to the read of the response."),

		connects:        counter("kindling.tcp.connects", "{connect}", "TCP connects, by outcome."),
		connectDuration: histogram("kindling.tcp.connect.duration", "Duration of successful TCP connects."),
		retransmits:     counter("kindling.tcp.retransmits", "{segment}", "TCP segments sent again."),
		resets:          counter("kindling.tcp.resets", "{reset}", "TCP resets, sent or received."),
		drops:           counter("kindling.tcp.drops", "{packet}", "Packets the kernel dropped on their way to a socket, by reason."),
		srtt:            histogram("kindling.tcp.srtt", "Smoothed round-trip time of TCP connections, sampled."),

		lost:        counter("kindling.collector.lost_events", "{event}", "Events the stream lost, as it reported in-band, by reason."),
		breaks:      counter("kindling.collector.stream_breaks", "{break}", "Times the stream broke: resumed (it lost nothing but what lost_events counts) or restarted (what happened between is unknown)."),
		unmatched:   counter("kindling.collector.unmatched_requests", "{request}", "Requests that got no response the collector could pair with them."),
		parseErrors: counter("kindling.collector.parse_errors", "{message}", "Payloads that started like a protocol's message but did not parse."),
	}
	_, err := m.Int64ObservableCounter("kindling.collector.events", metric.WithUnit("{event}"),
		metric.WithDescription("Events received from the kindling probe service."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(int64(ins.received.Load()))
			return nil
		}))
	errs = append(errs, err)
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("creating the collector's instruments: %w", err)
		}
	}
	// Self-metrics exist from the start, so that a rate over them works
	// before anything went wrong.
	ctx := context.Background()
	for _, outcome := range []string{"resumed", "restarted"} {
		ins.breaks.Add(ctx, 0, metric.WithAttributes(attribute.String("outcome", outcome)))
	}
	for _, reason := range []probev1.LossReason{
		probev1.LossReason_LOSS_REASON_KERNEL_BUFFER_FULL,
		probev1.LossReason_LOSS_REASON_SUBSCRIBER_QUEUE_FULL,
		probev1.LossReason_LOSS_REASON_SERVICE_ERROR,
		probev1.LossReason_LOSS_REASON_SERVICE_STOPPED,
		probev1.LossReason_LOSS_REASON_RESUME_TOO_LATE,
	} {
		ins.lost.Add(ctx, 0, metric.WithAttributes(attribute.String("reason", lossReason(reason))))
	}
	return ins, nil
}

// lossReason names a loss reason as the lost_events metric's reason
// attribute: the enum name, lower case, without its prefix
// ("kernel_buffer_full").
func lossReason(r probev1.LossReason) string {
	return strings.ToLower(strings.TrimPrefix(r.String(), "LOSS_REASON_"))
}

// Prometheus is a meter provider whose metrics an HTTP handler serves in
// the Prometheus text format.
type Prometheus struct {
	Provider *sdkmetric.MeterProvider
	Handler  http.Handler
}

// NewPrometheus returns a meter provider exporting through OpenTelemetry's
// Prometheus exporter, with its own registry: the instrument
// http.server.request.duration (unit s) becomes
// http_server_request_duration_seconds, kindling.tcp.connects
// kindling_tcp_connects_total, attribute keys take underscores.
func NewPrometheus(version string) (*Prometheus, error) {
	registry := prometheus.NewRegistry()
	exporter, err := otelprom.New(
		otelprom.WithRegisterer(registry),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
		// One scope only: its labels on every series would say nothing.
		otelprom.WithoutScopeInfo(),
	)
	if err != nil {
		return nil, fmt.Errorf("creating the Prometheus exporter: %w", err)
	}
	res := resource.NewSchemaless(
		attribute.String("service.name", "kindling-collector"),
		attribute.String("service.version", version),
	)
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter), sdkmetric.WithResource(res))
	handler := promhttp.HandlerFor(registry, promhttp.HandlerOpts{})
	return &Prometheus{Provider: provider, Handler: handler}, nil
}
