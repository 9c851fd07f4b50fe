/*
 * Flink's Prometheus reporter, listening on one address instead of every interface.
 *
 * Why: Flink's PrometheusReporter (flink-metrics-prometheus 2.2.1) opens its HTTP server on
 * new InetSocketAddress(port), the wildcard address, and has no option for the host. Every listening socket
 * of the embedded runtime is on loopback (docs/threat-model.md), so the embedded cluster configures this
 * reporter instead: the same scrape endpoint and the same metric names and labels (everything comes from
 * Flink's AbstractPrometheusReporter), served on the "host" option's address (default 127.0.0.1), on the
 * first free port of the "port" range (default 9249), like the stock reporter.
 *
 * It is compiled, with its factory (LoopbackPrometheusReporterFactory.java), against the installed
 * flink-metrics-prometheus jar by rtcef_ops/metrics_plugin.py and packaged, with a service file naming the
 * factory, into the plugin folder next to that jar, so both load in one plugin class loader. It lives in
 * Flink's package because the registry it serves is package-private in AbstractPrometheusReporter; javac
 * checks that against the jar the cluster runs, so a Flink release that changes it fails at build time,
 * not silently.
 */
package org.apache.flink.metrics.prometheus;

import io.prometheus.client.exporter.HTTPServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.Iterator;
import org.apache.flink.util.PortRange;

public class LoopbackPrometheusReporter extends AbstractPrometheusReporter {
  private final HTTPServer httpServer;
  private final int port;

  LoopbackPrometheusReporter(String host, PortRange ports) {
    HTTPServer server = null;
    int bound = -1;
    Iterator<Integer> candidates = ports.getPortsIterator();
    while (server == null && candidates.hasNext()) {
      int candidate = candidates.next();
      try {
        server = new HTTPServer(new InetSocketAddress(host, candidate), registry);
        bound = candidate;
      } catch (IOException e) {
        log.debug("Could not start PrometheusReporter HTTP server on {}:{}.", host, candidate, e);
      }
    }
    if (server == null) {
      throw new RuntimeException(
          "Could not start PrometheusReporter HTTP server on " + host + ", any port in " + ports);
    }
    httpServer = server;
    port = bound;
    log.info("Started PrometheusReporter HTTP server on {}:{}.", host, port);
  }

  int getPort() {
    return port;
  }

  @Override
  public void close() {
    httpServer.stop();
    super.close();
  }

}
