// A minimal QuikApp Spring Boot service, as the `instrumentation` output's `java` entry describes it.
//
// Traces: nothing here. The JVM is started with -javaagent:opentelemetry-javaagent.jar and the
// OTEL_* environment of the output; the agent makes a server span per request.
// Metrics: Micrometer through Spring Boot Actuator (micrometer-registry-prometheus) at
// /actuator/prometheus, exposed and with latency buckets by the MANAGEMENT_* environment of the
// output: http_server_requests_seconds_*, which configs/prometheus/rules/micrometer.yml copies
// under the names the stack's alerts and dashboards read.
package quikapp.instrumented;

import java.util.List;
import java.util.Map;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;

@SpringBootApplication
@RestController
public class App {
    @GetMapping("/orders")
    Map<String, List<String>> orders() {
        return Map.of("orders", List.of());
    }

    @GetMapping("/fail")
    ResponseEntity<Map<String, String>> fail() {
        return ResponseEntity.status(500).body(Map.of("error", "failing on purpose"));
    }

    public static void main(String[] args) {
        SpringApplication.run(App.class, args);
    }
}
