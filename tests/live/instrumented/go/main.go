// A minimal QuikApp Go service, as the `instrumentation` output's `go` entry describes it.
//
// Traces: the OpenTelemetry SDK set up in code (setupTracing): an OTLP/gRPC exporter configured by
// the OTEL_EXPORTER_OTLP_* environment, a resource from OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES
// (resource.Default reads both), and otelhttp around the handlers for a server span per request.
// Metrics: client_golang with the names the stack's alerts and dashboards read, on PORT at /metrics.
package main

import (
	"context"
	"encoding/json"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

var (
	requests = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "http_requests_total", Help: "HTTP requests served",
	}, []string{"method", "route", "status"})
	duration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name: "http_request_duration_seconds", Help: "HTTP request duration in seconds",
		Buckets: prometheus.DefBuckets,
	}, []string{"method", "route"})
)

// setupTracing is the whole SDK set-up a service needs; call the returned function on shutdown.
func setupTracing(ctx context.Context) (func(context.Context) error, error) {
	exporter, err := otlptracegrpc.New(ctx) // endpoint and TLS from OTEL_EXPORTER_OTLP_ENDPOINT
	if err != nil {
		return nil, err
	}
	provider := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exporter),
		sdktrace.WithResource(resource.Default()), // service.name from OTEL_SERVICE_NAME
	)
	otel.SetTracerProvider(provider)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return provider.Shutdown, nil
}

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

// measured counts and times every request under its route pattern.
func measured(route string, handler http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		handler(rec, req)
		requests.WithLabelValues(req.Method, route, strconv.Itoa(rec.status)).Inc()
		duration.WithLabelValues(req.Method, route).Observe(time.Since(start).Seconds())
	}
}

func reply(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	shutdown, err := setupTracing(ctx)
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.Handle("GET /orders", measured("/orders", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, http.StatusOK, map[string][]string{"orders": {}})
	}))
	mux.Handle("GET /fail", measured("/fail", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, http.StatusInternalServerError, map[string]string{"error": "failing on purpose"})
	}))
	mux.Handle("GET /metrics", promhttp.Handler())

	server := &http.Server{
		Addr:        net.JoinHostPort("127.0.0.1", os.Getenv("PORT")),
		Handler:     otelhttp.NewHandler(mux, "server"),
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	go func() {
		if err := server.ListenAndServe(); err != http.ErrServerClosed {
			log.Fatal(err)
		}
	}()
	<-ctx.Done()
	_ = server.Shutdown(context.Background())
	_ = shutdown(context.Background()) // flushes the spans still in the batcher
}
