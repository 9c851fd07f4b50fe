/*
 * The factory Flink instantiates for metrics.reporter.<name>.factory.class (see LoopbackPrometheusReporter).
 *
 * Options: "host", the address to listen on (default 127.0.0.1), and "port", a port or a range such as
 * 9249-9259 (default 9249): the reporter takes the first free one, so several JVMs on one host fit.
 */
package org.apache.flink.metrics.prometheus;

import java.util.Properties;
import org.apache.flink.metrics.MetricConfig;
import org.apache.flink.metrics.reporter.MetricReporter;
import org.apache.flink.metrics.reporter.MetricReporterFactory;
import org.apache.flink.util.PortRange;

public class LoopbackPrometheusReporterFactory implements MetricReporterFactory {
  @Override
  public MetricReporter createMetricReporter(Properties properties) {
    MetricConfig config = (MetricConfig) properties;
    String host = config.getString("host", "127.0.0.1");
    return new LoopbackPrometheusReporter(host, new PortRange(config.getString("port", "9249")));
  }
}
